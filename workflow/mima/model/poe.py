"""Product of Gaussian experts (Wu & Goodman 2018)."""

from __future__ import annotations

import torch


def product_of_experts(
    means: list[torch.Tensor],
    logvars: list[torch.Tensor],
    present: list[torch.Tensor] | None = None,
    prior: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine diagonal Gaussian experts into one.

    With precisions T_i = 1/σ_i², the product has
    μ = Σ μ_i T_i / Σ T_i and σ² = 1 / Σ T_i.

    Parameters
    ----------
    means, logvars
        One (cells × latent) tensor per expert.
    present
        One boolean (cells,) tensor per expert; a cell leaves out the experts
        it lacks. ``None``: every expert is present for every cell.
    prior
        Include the N(0, I) prior expert (mean 0, precision 1).

    Returns
    -------
    mean, logvar
        Of the product, (cells × latent) each.
    """
    precision_sum = torch.ones_like(means[0]) if prior else torch.zeros_like(means[0])
    weighted_mean_sum = torch.zeros_like(means[0])
    for i, (mean, logvar) in enumerate(zip(means, logvars)):
        precision = torch.exp(-logvar)
        if present is not None:
            precision = precision * present[i].to(precision.dtype).unsqueeze(-1)
        precision_sum = precision_sum + precision
        weighted_mean_sum = weighted_mean_sum + mean * precision
    return weighted_mean_sum / precision_sum, -torch.log(precision_sum)
