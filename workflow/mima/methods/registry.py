"""The method registry: the one list of competitors (DESIGN §1).

Everything that names methods derives from :data:`REGISTRY` — the
pipeline's ``embed_<method>`` rules and their conda envs, the config
schema's allowed method names, each dataset's default method list (every
registered method whose requirements the dataset's modalities meet), and
the README's methods table (:func:`methods_table`, checked by a test).

Adding a method
---------------
1. an adapter module ``mima/methods/<name>.py`` following
   :mod:`mima.methods.base` (``REQUIRES``, ``run``, ``version``);
2. an env file ``envs/<env>.yaml`` (unless it shares one);
3. one :class:`Method` entry below (and its extra in ``pyproject.toml``
   and the lock when it needs a new package).

Importing this module imports no tool.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One registered method.

    Attributes
    ----------
    name
        Registry key: the rule ``embed_<name>``, the file
        ``embeddings/<name>.h5ad``, the name in config and tables.
    label
        Display name (README table).
    env
        Conda env file ``envs/<env>.yaml`` its rule runs in.
    embeddings
        The ``obsm`` keys it writes, for the docs (``<m>``: per modality).
    citation
        Short reference (authors, year, journal, DOI).
    module
        Adapter module under :mod:`mima.methods` (default: ``name``).
    mima_settings
        Whether it trains with the dataset's ``mima:`` settings (its own
        ``method_params`` override them), as MIMA-Unimodal does.
    """

    name: str
    label: str
    env: str
    embeddings: str
    citation: str
    module: str = ""
    mima_settings: bool = False

    def adapter(self):
        """The adapter module (imports no tool: adapters import theirs in ``run``)."""
        return importlib.import_module(f"{__package__}.{self.module or self.name}")

    @property
    def requires(self):
        """The adapter's declared :class:`~mima.methods.base.Requirements`."""
        return self.adapter().REQUIRES

    def suits(self, modalities: list[str]) -> bool:
        """Whether a dataset with these modalities meets the method's
        declared modality requirements (counts are checked when it runs)."""
        requires = self.requires
        return all(m in modalities for m in requires.modalities) and len(modalities) >= requires.min_modalities


#: MIMA itself: not a competitor adapter (its rules train, embed and
#: translate), listed for the docs.
MIMA = Method(
    "mima", "MIMA", env="mima", embeddings="`poe`, `private_<m>`, `batch_<m>`",
    citation="MIMA preprint, bioRxiv 2025, doi:10.1101/2025.10.21.683449",
)

#: The competitors, in the order they appear in default lists and tables.
REGISTRY: tuple[Method, ...] = (
    Method("pca", "PCA (per modality, concatenated)", env="pca", embeddings="`pca_<m>`, `pca_concat`",
           citation="Pearson 1901; scikit-learn (Pedregosa et al. 2011, JMLR)"),
    Method("harmony", "Harmony (on PCA)", env="harmony", embeddings="`harmony_<m>`, `harmony_concat`",
           citation="Korsunsky et al. 2019, Nat Methods, doi:10.1038/s41592-019-0619-0"),
    Method("scanorama", "Scanorama", env="scanorama", embeddings="`scanorama_<m>`",
           citation="Hie et al. 2019, Nat Biotechnol, doi:10.1038/s41587-019-0113-3"),
    Method("scvi", "scVI (per modality)", env="scvi", embeddings="`scvi_<m>`",
           citation="Lopez et al. 2018, Nat Methods, doi:10.1038/s41592-018-0229-2"),
    Method("totalvi", "totalVI (rna + adt counts)", env="scvi", embeddings="`totalvi`",
           citation="Gayoso et al. 2021, Nat Methods, doi:10.1038/s41592-020-01050-x"),
    Method("multivi", "MultiVI (rna + atac counts)", env="scvi", embeddings="`multivi`",
           citation="Ashuach et al. 2023, Nat Methods, doi:10.1038/s41592-023-01909-9"),
    Method("mofa", "MOFA+", env="mofa", embeddings="`mofa`",
           citation="Argelaguet et al. 2020, Genome Biol, doi:10.1186/s13059-020-02015-1"),
    Method("mima_unimodal", "MIMA-Unimodal", env="mima", embeddings="`unimodal_private_<m>`, `unimodal_batch_<m>`",
           citation="MIMA preprint, bioRxiv 2025, doi:10.1101/2025.10.21.683449", mima_settings=True),
)


def names() -> list[str]:
    """Names of the registered competitors, in registry order."""
    return [method.name for method in REGISTRY]


def get(name: str) -> Method:
    """The registry entry of ``name``.

    Raises
    ------
    KeyError
        For a name that is not registered (the message lists the known ones).
    """
    for method in REGISTRY:
        if method.name == name:
            return method
    raise KeyError(f"unknown method {name!r}; registered: {names()}")


def default_methods(modalities: list[str]) -> list[str]:
    """Every registered method whose declared requirements a dataset with
    these modalities meets (e.g. totalVI only with ``rna`` and ``adt``)."""
    return [method.name for method in REGISTRY if method.suits(list(modalities))]


def methods_table() -> str:
    """The README's methods table (markdown), MIMA first."""
    rows = ["| method | embeddings (`obsm`) | env | reference |", "|---|---|---|---|"]
    for method in (MIMA, *REGISTRY):
        rows.append(f"| {method.label} | {method.embeddings} | `envs/{method.env}.yaml` | {method.citation} |")
    return "\n".join(rows)
