"""Building blocks: MLPs, Gaussian latent heads, encoders and decoders."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {
    "none": nn.Identity,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


def mlp(n_in: int, hidden: list[int], dropout: float, batch_norm: bool) -> nn.Sequential:
    """Linear → (BatchNorm) → ReLU → Dropout for each hidden size.

    An empty ``hidden`` gives an empty (identity) ``nn.Sequential``.
    """
    layers: list[nn.Module] = []
    for n_out in hidden:
        layers.append(nn.Linear(n_in, n_out))
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_out))
        layers += [nn.ReLU(), nn.Dropout(dropout)]
        n_in = n_out
    return nn.Sequential(*layers)


class GaussianHead(nn.Module):
    """Linear map to the mean and log-variance of a diagonal Gaussian."""

    def __init__(self, n_in: int, latent_dim: int, logvar_clamp: float):
        super().__init__()
        self.linear = nn.Linear(n_in, 2 * latent_dim)
        self.logvar_clamp = logvar_clamp

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.linear(h).chunk(2, dim=-1)
        return mean, logvar.clamp(-self.logvar_clamp, self.logvar_clamp)


class BatchGaussianHead(nn.Module):
    """One latent block per sample; each cell uses its own sample's block.

    The head computes every block and gathers the cell's one, so gradients
    reach only the weights of the block that the cell's sample selects.
    """

    def __init__(self, n_in: int, latent_dim: int, n_batches: int, logvar_clamp: float):
        super().__init__()
        self.latent_dim = latent_dim
        self.n_batches = n_batches
        self.linear = nn.Linear(n_in, n_batches * 2 * latent_dim)
        self.logvar_clamp = logvar_clamp

    def forward(self, h: torch.Tensor, batch_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        blocks = self.linear(h).view(-1, self.n_batches, 2, self.latent_dim)
        chosen = blocks[torch.arange(blocks.shape[0], device=h.device), batch_index]
        mean, logvar = chosen[:, 0], chosen[:, 1]
        return mean, logvar.clamp(-self.logvar_clamp, self.logvar_clamp)


class ModalityEncoder(nn.Module):
    """Encoder of one modality: MLP trunk, then shared, private and batch heads.

    ``shared=False`` (MIMA-Unimodal) leaves the shared head out.
    """

    def __init__(
        self,
        n_features: int,
        hidden: list[int],
        latent_dim: int,
        n_batches: int,
        dropout_hidden: float,
        dropout_latent: float,
        batch_norm: bool,
        logvar_clamp: float,
        shared: bool = True,
    ):
        super().__init__()
        self.trunk = mlp(n_features, hidden, dropout_hidden, batch_norm)
        n_trunk = hidden[-1] if hidden else n_features
        self.latent_dropout = nn.Dropout(dropout_latent)
        self.shared = GaussianHead(n_trunk, latent_dim, logvar_clamp) if shared else None
        self.private = GaussianHead(n_trunk, latent_dim, logvar_clamp)
        self.batch = BatchGaussianHead(n_trunk, latent_dim, n_batches, logvar_clamp)

    def forward(self, x: torch.Tensor, batch_index: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Posterior (mean, log-variance) of each latent of this modality."""
        h = self.latent_dropout(self.trunk(x))
        posteriors = {"private": self.private(h), "batch": self.batch(h, batch_index)}
        if self.shared is not None:
            posteriors["shared"] = self.shared(h)
        return posteriors


class ModalityDecoder(nn.Module):
    """Decoder of one modality: mirrors its encoder's hidden layers."""

    def __init__(
        self,
        n_features: int,
        hidden: list[int],
        latent_dim: int,
        dropout_hidden: float,
        batch_norm: bool,
        output_activation: str,
    ):
        super().__init__()
        mirrored = list(reversed(hidden))
        self.trunk = mlp(latent_dim, mirrored, dropout_hidden, batch_norm)
        self.output = nn.Linear(mirrored[-1] if mirrored else latent_dim, n_features)
        self.activation = ACTIVATIONS[output_activation]()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.activation(self.output(self.trunk(z)))
