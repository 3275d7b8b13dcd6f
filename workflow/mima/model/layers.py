"""Building blocks: MLPs, Gaussian latent heads, encoders and decoders."""

from __future__ import annotations

import torch
from torch import nn

from .loss import linear_squared_error, output_gram, squared_error
from .sparse import SparseRows, dense, matmul

ACTIVATIONS = {
    "none": nn.Identity,
    "relu": nn.ReLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


class InputLinear(nn.Module):
    """``nn.Linear`` for a possibly sparse input: y = x W + b.

    The weight is stored features x outputs (the transpose of
    ``nn.Linear``'s), one row per input feature, so that a sparse minibatch
    (:class:`~mima.model.sparse.SparseRows`) costs ``nnz x outputs``. It is
    initialised exactly as ``nn.Linear`` (same random draws, transposed).
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        reference = nn.Linear(n_in, n_out)
        self.n_in, self.n_out = n_in, n_out
        self.weight = nn.Parameter(reference.weight.detach().t().contiguous())
        self.bias = nn.Parameter(reference.bias.detach().clone())

    def forward(self, x: torch.Tensor | SparseRows) -> torch.Tensor:
        if isinstance(x, SparseRows):
            return matmul(x, self.weight) + self.bias
        return torch.addmm(self.bias, x, self.weight)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # models saved before this layer existed hold nn.Linear's (outputs x features) weight
        key = prefix + "weight"
        weight = state_dict.get(key)
        if weight is not None and self.n_in != self.n_out and tuple(weight.shape) == (self.n_out, self.n_in):
            state_dict[key] = weight.t().contiguous()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"in_features={self.n_in}, out_features={self.n_out}"


def mlp(n_in: int, hidden: list[int], dropout: float, batch_norm: bool, sparse_input: bool = False) -> nn.Sequential:
    """Linear → (BatchNorm) → ReLU → Dropout for each hidden size.

    An empty ``hidden`` gives an empty (identity) ``nn.Sequential``.
    ``sparse_input`` makes the first layer an :class:`InputLinear`, which
    takes sparse minibatches.
    """
    layers: list[nn.Module] = []
    for i, n_out in enumerate(hidden):
        layers.append(InputLinear(n_in, n_out) if sparse_input and i == 0 else nn.Linear(n_in, n_out))
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


class _BlockLinear(torch.autograd.Function):
    """``y_i = h_i W_{b_i}ᵀ + c_{b_i}``: each row through its own block.

    Rows are grouped by block and each group takes one matrix product, so a
    minibatch costs ``cells x n_in x block`` multiply-adds instead of
    ``cells x n_in x block x n_blocks`` for computing every block.
    """

    @staticmethod
    def forward(ctx, h, weight, bias, block_index):
        n_blocks, width = bias.shape
        order = torch.argsort(block_index, stable=True)
        ends = torch.bincount(block_index, minlength=n_blocks).cumsum(0).tolist()
        # (block, its rows in block order) for every block the minibatch uses
        groups = [(block, slice(start, end)) for block, (start, end) in enumerate(zip([0] + ends, ends))
                  if end > start]
        h_sorted = h[order]
        out_sorted = torch.empty(h.shape[0], width, dtype=h.dtype, device=h.device)
        for block, rows in groups:
            torch.addmm(bias[block], h_sorted[rows], weight[block].T, out=out_sorted[rows])
        out = torch.empty_like(out_sorted)
        out[order] = out_sorted
        ctx.save_for_backward(h_sorted, weight, order)
        ctx.groups = groups
        return out

    @staticmethod
    def backward(ctx, grad_out):
        h_sorted, weight, order = ctx.saved_tensors
        g_sorted = grad_out[order]
        grad_h_sorted = torch.empty_like(h_sorted)
        grad_weight = torch.zeros_like(weight)
        grad_bias = grad_weight.new_zeros(weight.shape[:2])
        for block, rows in ctx.groups:
            torch.mm(g_sorted[rows], weight[block], out=grad_h_sorted[rows])
            torch.mm(g_sorted[rows].T, h_sorted[rows], out=grad_weight[block])
            grad_bias[block] = g_sorted[rows].sum(0)
        grad_h = torch.empty_like(grad_h_sorted)
        grad_h[order] = grad_h_sorted
        return grad_h, grad_weight, grad_bias, None


class BatchGaussianHead(nn.Module):
    """One latent block per sample; each cell uses its own sample's block.

    The weights are one ``nn.Linear`` whose output rows are the blocks side
    by side (sample ``b``: rows ``[2 L b, 2 L (b + 1))``, mean then
    log-variance). On the CPU each cell goes through its own block only
    (:class:`_BlockLinear`); on other devices, where many small products
    cost more than one large one, every block is computed and the cell's
    gathered. Either way gradients reach only the block of the cell's sample.
    """

    def __init__(self, n_in: int, latent_dim: int, n_batches: int, logvar_clamp: float):
        super().__init__()
        self.latent_dim = latent_dim
        self.n_batches = n_batches
        self.linear = nn.Linear(n_in, n_batches * 2 * latent_dim)
        self.logvar_clamp = logvar_clamp

    def forward(self, h: torch.Tensor, batch_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if h.device.type == "cpu" and self.n_batches > 1:
            weight = self.linear.weight.view(self.n_batches, 2 * self.latent_dim, -1)
            bias = self.linear.bias.view(self.n_batches, 2 * self.latent_dim)
            chosen = _BlockLinear.apply(h, weight, bias, batch_index).view(-1, 2, self.latent_dim)
        else:
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
        self.trunk = mlp(n_features, hidden, dropout_hidden, batch_norm, sparse_input=True)
        n_trunk = hidden[-1] if hidden else n_features
        self.latent_dropout = nn.Dropout(dropout_latent)
        self.shared = GaussianHead(n_trunk, latent_dim, logvar_clamp) if shared else None
        self.private = GaussianHead(n_trunk, latent_dim, logvar_clamp)
        self.batch = BatchGaussianHead(n_trunk, latent_dim, n_batches, logvar_clamp)

    def forward(self, x: torch.Tensor | SparseRows,
                batch_index: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Posterior (mean, log-variance) of each latent of this modality.

        ``x`` may be dense or :class:`~mima.model.sparse.SparseRows`.
        """
        if len(self.trunk) == 0:
            x = dense(x)  # low-dimensional: the heads read the input directly
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
        self.linear_output = output_activation == "none"
        #: Set by :meth:`mima.model.module.MIMAModule.fixed_weights`: the
        #: weights will not change, so WᵀW may be computed once.
        self.reuse_gram = False
        self._gram = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.activation(self.output(self.trunk(z)))

    def squared_errors(self, z: torch.Tensor, x: torch.Tensor | SparseRows, reduction: str = "mean",
                       method: str = "auto") -> torch.Tensor:
        """Per-cell squared error of several decodings of the same cells.

        Parameters
        ----------
        z
            (k * cells) x latent: ``k`` latents per cell stacked block-wise
            (all cells' first latent, then all cells' second, ...).
        x
            (cells x features) target, dense or sparse.
        reduction
            ``mean`` over features or ``sum_features``.
        method
            ``dense`` decodes and compares; ``gram`` expands the square
            (:func:`~mima.model.loss.linear_squared_error`, linear output
            only) without forming the reconstructions; ``auto`` picks the
            one with fewer multiply-adds.

        Returns
        -------
        torch.Tensor
            (k, cells) squared error of each decoding of each cell.
        """
        n_cells = x.shape[0]
        h = self.trunk(z)
        if method == "auto":
            training = torch.is_grad_enabled()
            method = "gram" if self.linear_output and gram_is_cheaper(
                h.shape[0], h.shape[1], self.output.out_features,
                x.nnz if isinstance(x, SparseRows) else x.numel(), training,
                gram_known=self.reuse_gram and not training) else "dense"
        if method == "gram":
            if not self.linear_output:
                raise ValueError("the gram method needs a linear decoder output (output_activation 'none')")
            return linear_squared_error(x, h.reshape(-1, n_cells, h.shape[1]), self.output.weight, self.output.bias,
                                        reduction, gram=self._output_gram())
        recon = self.activation(self.output(h)).view(-1, n_cells, self.output.out_features)
        return squared_error(dense(x).unsqueeze(0), recon, reduction)

    def _output_gram(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """:func:`~mima.model.loss.output_gram` of the output layer while
        :attr:`reuse_gram` holds and no gradient is taken, computed once;
        ``None`` otherwise (computed with each minibatch's loss)."""
        if not self.reuse_gram or torch.is_grad_enabled():
            return None
        if self._gram is None:
            self._gram = output_gram(self.output.weight, self.output.bias)
        return self._gram


def gram_is_cheaper(n_rows: int, width: int, n_features: int, nnz: int, training: bool,
                    gram_known: bool = False) -> bool:
    """Whether :func:`~mima.model.loss.linear_squared_error` takes fewer
    multiply-adds than decoding ``n_rows`` latents densely.

    Dense: ``n_rows x width x n_features`` forward, twice that backward.
    Expanded: ``nnz x width`` for the cross term and ``n_rows x width²``
    for the quadratic form (each three times with gradients), plus
    ``width² x n_features`` for WᵀW unless ``gram_known`` (and as much
    again for its gradient in training).
    """
    passes = 3 if training else 1
    dense_cost = passes * n_rows * width * n_features
    gram_cost = passes * (nnz * width + n_rows * width * width)
    if not gram_known:
        gram_cost += (2 if training else 1) * width * width * n_features
    return gram_cost < dense_cost
