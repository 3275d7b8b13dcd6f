"""Configuration of the MIMA torch module (DESIGN §3).

Defaults are the study's. Points the study leaves open are marked
*(choice)* and stay configurable. The training settings are
:class:`mima.train.config.TrainConfig`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Modalities with at most this many features get no hidden encoder layers
#: (the study: proteins and the 512-d morphology embedding go straight to the
#: latent heads). *(choice)* of threshold.
LOW_DIM_THRESHOLD = 600
DEFAULT_HIDDEN = (300, 300)
OUTPUT_ACTIVATIONS = ("none", "relu", "softplus", "sigmoid")
MSE_REDUCTIONS = ("mean", "sum_features")
KL_REDUCTIONS = ("sum", "mean")


@dataclass
class ModalityConfig:
    """One modality of the model.

    Parameters
    ----------
    name
        Modality name (``rna``, ``adt``, ``atac``, ``msi``, ``morphology``...).
    n_features
        Input dimension d_m.
    hidden
        Hidden layer sizes of the encoder MLP (the decoder mirrors them);
        ``None`` picks ``[300, 300]`` above :data:`LOW_DIM_THRESHOLD`
        features and ``[]`` at or below it.
    beta
        Weight β_m of the modality's KL terms.
    output_activation
        Activation on the decoder output: one of :data:`OUTPUT_ACTIVATIONS`.
    """

    name: str
    n_features: int
    hidden: list[int] | None = None
    beta: float = 0.01
    output_activation: str = "none"

    def __post_init__(self):
        if self.hidden is None:
            self.hidden = list(DEFAULT_HIDDEN) if self.n_features > LOW_DIM_THRESHOLD else []
        self.hidden = [int(h) for h in self.hidden]
        if self.n_features < 1:
            raise ValueError(f"modality {self.name!r} has {self.n_features} features; need at least 1")
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"modality {self.name!r}: output_activation {self.output_activation!r} "
                f"is not one of {OUTPUT_ACTIVATIONS}"
            )


@dataclass
class ModelConfig:
    """The whole MIMA module.

    Parameters
    ----------
    modalities
        One :class:`ModalityConfig` per modality, in a fixed order.
    n_batches
        Number of samples; the batch head has one latent block per sample.
    latent_dim
        Size of every latent space (shared, private, each batch block).
    beta_poe
        Weight of KL(q(z_PoE) ‖ N(0, I)).
    dropout_hidden
        Dropout after each hidden layer of encoders and decoders.
    dropout_latent
        Dropout on the input of the latent heads *(choice of placement)*.
    batch_norm
        BatchNorm after each hidden linear layer *(choice; off by default)*.
    mse_reduction
        ``mean``: averaged over features and cells (default); ``sum_features``:
        summed over features, averaged over cells.
    kl_reduction
        ``sum``: summed over latent dimensions, averaged over cells (default);
        ``mean``: averaged over both.
    shared
        ``False`` builds MIMA-Unimodal: no shared latent, no product of
        experts, no translation; only private and batch latents.
    logvar_clamp
        Log-variances from the heads are clipped to ±this value, so that the
        precisions of the product of experts stay finite.
    """

    modalities: list[ModalityConfig]
    n_batches: int
    latent_dim: int = 100
    beta_poe: float = 0.01
    dropout_hidden: float = 0.1
    dropout_latent: float = 0.3
    batch_norm: bool = False
    mse_reduction: str = "mean"
    kl_reduction: str = "sum"
    shared: bool = True
    logvar_clamp: float = 12.0

    def __post_init__(self):
        self.modalities = [m if isinstance(m, ModalityConfig) else ModalityConfig(**m) for m in self.modalities]
        names = [m.name for m in self.modalities]
        if not names:
            raise ValueError("the model needs at least one modality")
        if len(set(names)) != len(names):
            raise ValueError(f"modality names must be unique, got {names}")
        if self.n_batches < 1:
            raise ValueError(f"n_batches must be at least 1, got {self.n_batches}")
        if self.mse_reduction not in MSE_REDUCTIONS:
            raise ValueError(f"mse_reduction {self.mse_reduction!r} is not one of {MSE_REDUCTIONS}")
        if self.kl_reduction not in KL_REDUCTIONS:
            raise ValueError(f"kl_reduction {self.kl_reduction!r} is not one of {KL_REDUCTIONS}")
        if not self.shared and len(names) != 1:
            raise ValueError("MIMA-Unimodal (shared=False) takes exactly one modality")

    @property
    def names(self) -> list[str]:
        """Modality names in model order."""
        return [m.name for m in self.modalities]

    def to_dict(self) -> dict:
        """Plain-type dictionary (JSON-serialisable) of the configuration."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(**values)
