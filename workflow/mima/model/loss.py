"""The MIMA loss (DESIGN §3): shared part + private part.

shared  = Σ_m MSE(x_m, PoE recon_m) + Σ_{m≠n} MSE(x_m, translation n→m)
          + β_PoE · KL(q(z_PoE) ‖ N(0, I))
private = Σ_m [ MSE(x_m, private recon_m)
                + β_m · (KL(z_b^m) + KL(z_mod^m) + KL(z_s^m)) ]

Each term is averaged over the cells that have the modality (or, for a
translation, both modalities).

The squared errors of a linear decoder output can be computed without
forming the reconstructions (:func:`linear_squared_error`); the result is
the same quantity, evaluated in another order.
"""

from __future__ import annotations

import torch

from .sparse import SparseRows, matmul, squared_norm


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


class _OutputProducts(torch.autograd.Function):
    """WᵀW, Wᵀb, bᵀb, xW and xb of a linear output layer (W, b) and its
    target x, with one weight-gradient buffer.

    Autograd would form WᵀW's weight gradient as two products, W gᵀ and
    W g, each as costly as the forward, and xW's as a separate tensor added
    afterwards; here W (g + gᵀ) is one product and the rank-one and xᵀ(...)
    terms are accumulated into it in place.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, bias: torch.Tensor, x):
        ctx.save_for_backward(weight, bias)
        ctx.x = x
        return weight.t() @ weight, bias @ weight, bias @ bias, matmul(x, weight), matmul(x, bias)

    @staticmethod
    def backward(ctx, grad_gram, grad_weight_bias, grad_bias_norm, grad_xw, grad_xb):
        weight, bias = ctx.saved_tensors
        x = ctx.x
        grad_weight = weight @ (grad_gram + grad_gram.t())
        grad_weight.addr_(bias, grad_weight_bias)
        grad_bias = weight @ grad_weight_bias + 2.0 * grad_bias_norm * bias
        x_t = x.transposed() if isinstance(x, SparseRows) else x.t()
        grad_weight.addmm_(x_t, grad_xw.contiguous())
        grad_bias.add_((x_t @ grad_xb.unsqueeze(1)).squeeze(1))
        return grad_weight, grad_bias, None


@torch.no_grad()
def output_gram(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(WᵀW, Wᵀb, bᵀb) of a linear layer, without gradients (a fixed layer)."""
    return weight.t() @ weight, bias @ weight, bias @ bias


def linear_squared_error(x: torch.Tensor | SparseRows, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                         reduction: str = "mean", gram: tuple | None = None) -> torch.Tensor:
    """Squared error of linear reconstructions r = W h + b, without forming r.

    Expands ‖x − W h − b‖² = ‖x‖² − 2 (xᵀW h + xᵀb) + hᵀ(WᵀW)h + 2 hᵀWᵀb + ‖b‖²,
    so the features enter only through WᵀW (width x width) and the
    products xᵀW, xᵀb — ``nnz x width`` for sparse x — instead of through
    ``cells x features`` reconstructions per latent.

    Parameters
    ----------
    x
        (cells x features) target, dense or :class:`~mima.model.sparse.SparseRows`.
    h
        (k, cells, width): ``k`` decoder inputs of the output layer per cell.
    weight, bias
        The output layer, (features x width) and (features,) as in ``nn.Linear``.
    reduction
        ``mean`` over features or ``sum_features``.
    gram
        :func:`output_gram` of ``weight`` and ``bias`` when already known
        and no gradient into them is needed (it does not depend on the cells).

    Returns
    -------
    torch.Tensor
        (k, cells) squared error of each reconstruction.
    """
    if gram is None:
        gram, weight_bias, bias_norm, x_weight, x_bias = _OutputProducts.apply(weight, bias, x)
    else:
        (gram, weight_bias, bias_norm), x_weight, x_bias = gram, matmul(x, weight), matmul(x, bias)
    quadratic = ((h @ gram) * h).sum(-1) + 2.0 * (h @ weight_bias) + bias_norm
    cross = (h * x_weight).sum(-1) + x_bias
    per_cell = squared_norm(x) - 2.0 * cross + quadratic
    return per_cell / weight.shape[0] if reduction == "mean" else per_cell


def reconstruction_errors(outputs: dict, x: dict[str, torch.Tensor], reduction: str = "mean") -> dict:
    """Per-cell squared errors of the dense reconstructions in ``outputs``
    (what :meth:`mima.model.module.MIMAModule.forward` returns), in the
    layout of ``outputs['errors']``: ``{m: {'private', 'poe', 'translation': {n}}}``."""
    errors = {}
    for m, recon in outputs["recon_private"].items():
        errors[m] = {"private": squared_error(x[m], recon, reduction)}
        if m in outputs.get("recon_poe", {}):
            errors[m]["poe"] = squared_error(x[m], outputs["recon_poe"][m], reduction)
            errors[m]["translation"] = {
                n: squared_error(x[m], predicted, reduction) for n, predicted in outputs["translation"][m].items()
            }
    return errors


def cell_average(per_cell: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Average of ``per_cell`` over cells with weight 1 (0 when there are none)."""
    return (per_cell * weight).sum() / weight.sum().clamp_min(1.0)


def mima_loss(outputs: dict, x: dict[str, torch.Tensor] | None, present: dict[str, torch.Tensor], config) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss and its named parts for one minibatch.

    Parameters
    ----------
    outputs
        Posteriors (``posteriors``, ``poe``) and either the per-cell squared
        errors (``errors``, as :func:`reconstruction_errors` lays them out)
        or the dense reconstructions that
        :meth:`mima.model.module.MIMAModule.forward` returns.
    x
        Input per modality (cells × features); only read when ``outputs``
        has no ``errors``.
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
    kl_red = config.kl_reduction
    errors = outputs.get("errors") or reconstruction_errors(outputs, x, config.mse_reduction)
    zero = present[config.names[0]].new_zeros(())
    recon_poe, translation, recon_private, kl_private = zero, zero, zero, zero
    for modality in config.modalities:
        m = modality.name
        weight = present[m]
        posterior = outputs["posteriors"][m]
        recon_private = recon_private + cell_average(errors[m]["private"], weight)
        kl = kl_standard_normal(*posterior["batch"], kl_red) + kl_standard_normal(*posterior["private"], kl_red)
        if config.shared:
            kl = kl + kl_standard_normal(*posterior["shared"], kl_red)
            recon_poe = recon_poe + cell_average(errors[m]["poe"], weight)
            for source, error in errors[m]["translation"].items():
                translation = translation + cell_average(error, weight * present[source])
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
