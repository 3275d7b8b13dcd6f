"""The MIMA loss (DESIGN §3): shared part + private part.

shared  = Σ_m MSE(x_m, PoE recon_m) + Σ_{m≠n} MSE(x_m, translation n→m)
          + β_PoE · KL(q(z_PoE) ‖ N(0, I))
private = Σ_m [ MSE(x_m, private recon_m)
                + β_m · (KL(z_b^m) + KL(z_mod^m) + KL(z_s^m)) ]

Each term is averaged over the cells that have the modality (or, for a
translation, both modalities).
"""

from __future__ import annotations

import torch


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, I)) per cell.

    Parameters
    ----------
    mean, logvar
        (cells × latent) posterior parameters.
    reduction
        ``sum`` over latent dimensions (default) or ``mean``.

    Returns
    -------
    torch.Tensor
        (cells,) KL of each cell.
    """
    per_dim = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1.0)
    return per_dim.sum(-1) if reduction == "sum" else per_dim.mean(-1)


def squared_error(x: torch.Tensor, recon: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error per cell: ``mean`` over features (default) or ``sum_features``."""
    per_feature = (x - recon).pow(2)
    return per_feature.mean(-1) if reduction == "mean" else per_feature.sum(-1)


def cell_average(per_cell: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Average of ``per_cell`` over cells with weight 1 (0 when there are none)."""
    return (per_cell * weight).sum() / weight.sum().clamp_min(1.0)


def mima_loss(outputs: dict, x: dict[str, torch.Tensor], present: dict[str, torch.Tensor], config) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its named parts for one minibatch.

    Parameters
    ----------
    outputs
        What :meth:`mima.model.module.MIMAModule.forward` returns.
    x
        Input per modality (cells × features).
    present
        Float (cells,) mask per modality: 1 where the cell has the modality.
    config
        The :class:`mima.model.config.ModelConfig`.

    Returns
    -------
    total, parts
        The scalar loss to minimise, and a dictionary of its parts as floats
        (``recon_poe``, ``translation``, ``kl_poe``, ``recon_private``,
        ``kl_private``, ``shared``, ``private``, ``total``).
    """
    mse_red, kl_red = config.mse_reduction, config.kl_reduction
    zero = x[config.names[0]].new_zeros(())
    recon_poe, translation, recon_private, kl_private = zero, zero, zero, zero
    for modality in config.modalities:
        m = modality.name
        weight = present[m]
        posterior = outputs["posteriors"][m]
        recon_private = recon_private + cell_average(squared_error(x[m], outputs["recon_private"][m], mse_red), weight)
        kl = kl_standard_normal(*posterior["batch"], kl_red) + kl_standard_normal(*posterior["private"], kl_red)
        if config.shared:
            kl = kl + kl_standard_normal(*posterior["shared"], kl_red)
            recon_poe = recon_poe + cell_average(squared_error(x[m], outputs["recon_poe"][m], mse_red), weight)
            for source, predicted in outputs["translation"][m].items():
                both = weight * present[source]
                translation = translation + cell_average(squared_error(x[m], predicted, mse_red), both)
        kl_private = kl_private + modality.beta * cell_average(kl, weight)
    kl_poe = zero
    if config.shared:
        kl_poe = config.beta_poe * kl_standard_normal(*outputs["poe"], kl_red).mean()
    shared = recon_poe + translation + kl_poe
    private = recon_private + kl_private
    total = shared + private
    parts = {
        "recon_poe": recon_poe, "translation": translation, "kl_poe": kl_poe,
        "recon_private": recon_private, "kl_private": kl_private,
        "shared": shared, "private": private, "total": total,
    }
    return total, {name: float(value.detach()) for name, value in parts.items()}
