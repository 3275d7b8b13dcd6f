"""The MIMA torch module: encoders, product of experts, decoders.

Kept apart from the training loop (:mod:`mima.train`) and from the
user-facing model (:mod:`mima.api`).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .config import ModelConfig
from .layers import ModalityDecoder, ModalityEncoder
from .loss import mima_loss
from .poe import product_of_experts
from .sparse import SparseRows


class MIMAModule(nn.Module):
    """Modality-agnostic autoencoder with shared, private and batch latents.

    Parameters
    ----------
    config
        Architecture and loss settings.

    Notes
    -----
    Latents of equal size are summed before decoding (DESIGN §3):

    - PoE reconstruction: dec_m(z_PoE + z_b^m)
    - private reconstruction: dec_m(z_mod^m + z_b^m)
    - translation n → m: dec_m(z_s^n + z_b^m), with the gradient into
      z_b^m stopped so the translation term never trains the batch head
    - denoised: dec_m(z_PoE + z_mod^m + z_b^m)
    - batch-corrected: dec_m(z_PoE + z_mod^m)

    The loss never forms a reconstruction it only needs to compare: see
    :meth:`errors`. ``error_method`` (``auto``, ``dense`` or ``gram``; not
    saved) chooses how :meth:`errors` evaluates the squared errors.

    The buffer ``batch_latent_mean`` (modalities × samples × latent) holds
    each sample's mean batch latent over the training cells; it stands in
    for z_b^m whenever x_m must not be used.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.names = config.names
        self.encoders = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        for m in config.modalities:
            self.encoders[m.name] = ModalityEncoder(
                m.n_features, m.hidden, config.latent_dim, config.n_batches,
                config.dropout_hidden, config.dropout_latent, config.batch_norm,
                config.logvar_clamp, shared=config.shared,
            )
            self.decoders[m.name] = ModalityDecoder(
                m.n_features, m.hidden, config.latent_dim,
                config.dropout_hidden, config.batch_norm, m.output_activation,
            )
        self.error_method = "auto"
        self.register_buffer(
            "batch_latent_mean", torch.zeros(len(self.names), config.n_batches, config.latent_dim)
        )

    @contextlib.contextmanager
    def fixed_weights(self):
        """Promise that the weights stay as they are inside the block (a
        validation pass): the decoders' WᵀW terms of the loss are then
        computed once instead of once per minibatch."""
        for decoder in self.decoders.values():
            decoder.reuse_gram, decoder._gram = True, None
        try:
            yield self
        finally:
            for decoder in self.decoders.values():
                decoder.reuse_gram, decoder._gram = False, None

    def encode(
        self,
        x: dict[str, torch.Tensor],
        batch_index: torch.Tensor,
        present: dict[str, torch.Tensor] | None = None,
    ) -> tuple[dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]], tuple[torch.Tensor, torch.Tensor] | None]:
        """Posteriors of every latent, and of the product of experts.

        Parameters
        ----------
        x
            Input per modality; a modality may be left out entirely.
        batch_index
            (cells,) integer sample index.
        present
            Float or bool (cells,) mask per modality in ``x``; missing means
            all cells have it.

        Returns
        -------
        posteriors, poe
            ``posteriors[m][kind] = (mean, logvar)`` for kind in shared,
            private, batch; ``poe = (mean, logvar)`` over the N(0, I) prior and
            the shared posteriors present (``None`` for MIMA-Unimodal).
        """
        posteriors = {m: self.encoders[m](x[m], batch_index) for m in self.names if m in x}
        if not self.config.shared:
            return posteriors, None
        used = list(posteriors)
        masks = [present[m] if present is not None and m in present else torch.ones_like(batch_index, dtype=torch.bool) for m in used]
        poe = product_of_experts(
            [posteriors[m]["shared"][0] for m in used],
            [posteriors[m]["shared"][1] for m in used],
            masks,
        )
        return posteriors, poe

    def sample(self, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Reparameterised sample in training mode; the mean in eval mode."""
        if not self.training:
            return mean
        return mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)

    def decode(self, modality: str, z: torch.Tensor) -> torch.Tensor:
        """Decoder of ``modality`` applied to a (summed) latent."""
        return self.decoders[modality](z)

    def _stacked_latents(self, x, batch_index, present):
        """Posteriors, PoE and, per modality, the sampled latent sums to
        decode, stacked block-wise in the order private, PoE, then each
        translation into the modality."""
        posteriors, poe = self.encode(x, batch_index, present)
        z = {m: {kind: self.sample(*p) for kind, p in post.items()} for m, post in posteriors.items()}
        z_poe = self.sample(*poe) if poe is not None else None
        stacks = {}
        for m in self.names:
            z_batch = z[m]["batch"]
            stacked = [z[m]["private"] + z_batch]
            sources = []
            if self.config.shared:
                stacked.append(z_poe + z_batch)
                sources = [n for n in self.names if n != m]
                stacked += [z[n]["shared"] + z_batch.detach() for n in sources]
            stacks[m] = (torch.cat(stacked), sources)
        return posteriors, poe, stacks

    def forward(
        self,
        x: dict[str, torch.Tensor],
        batch_index: torch.Tensor,
        present: dict[str, torch.Tensor] | None = None,
    ) -> dict:
        """Every decoding the loss needs, from sampled latents.

        Each modality's decoder runs once on the stacked latent sums
        (PoE, private and every translation into it) rather than once per
        decoding.
        """
        posteriors, poe, stacks = self._stacked_latents(x, batch_index, present)
        recon_poe, recon_private, translation = {}, {}, {}
        for m, (stacked, sources) in stacks.items():
            decoded = self.decode(m, stacked).split(batch_index.shape[0])
            recon_private[m] = decoded[0]
            if self.config.shared:
                recon_poe[m] = decoded[1]
                translation[m] = dict(zip(sources, decoded[2:]))
        return {
            "posteriors": posteriors, "poe": poe,
            "recon_poe": recon_poe, "recon_private": recon_private, "translation": translation,
        }

    def errors(
        self,
        x: dict[str, torch.Tensor | SparseRows],
        batch_index: torch.Tensor,
        present: dict[str, torch.Tensor] | None = None,
    ) -> dict:
        """Like :meth:`forward`, but with the per-cell squared error of each
        decoding (``errors``, laid out as
        :func:`mima.model.loss.reconstruction_errors`) instead of the
        reconstructions, which need not be formed (see
        :meth:`mima.model.layers.ModalityDecoder.squared_errors`)."""
        posteriors, poe, stacks = self._stacked_latents(x, batch_index, present)
        errors = {}
        for m, (stacked, sources) in stacks.items():
            per_decoding = self.decoders[m].squared_errors(stacked, x[m], self.config.mse_reduction, self.error_method)
            errors[m] = {"private": per_decoding[0]}
            if self.config.shared:
                errors[m]["poe"] = per_decoding[1]
                errors[m]["translation"] = dict(zip(sources, per_decoding[2:]))
        return {"posteriors": posteriors, "poe": poe, "errors": errors}

    def loss(
        self,
        x: dict[str, torch.Tensor | SparseRows],
        batch_index: torch.Tensor,
        present: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one minibatch; see :func:`mima.model.loss.mima_loss`.

        ``x`` may hold :class:`~mima.model.sparse.SparseRows` (CPU).
        """
        dtype = self.batch_latent_mean.dtype
        if present is None:
            present = {m: torch.ones(batch_index.shape[0], dtype=dtype, device=batch_index.device) for m in self.names}
        present = {m: v.to(dtype) for m, v in present.items()}
        return mima_loss(self.errors(x, batch_index, present), None, present, self.config)
