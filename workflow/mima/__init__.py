"""MIMA: multimodal integration with modality-agnostic autoencoders.

The top-level import is deliberately light (no torch): the data,
preprocessing and evaluation helpers run in every tool's environment, and
the torch model lives in :mod:`mima.model` and :mod:`mima.train`.
"""

__version__ = "0.1.0"
