"""MOFA+ (mofapy2): one factor model over all modalities.

Embeddings (DESIGN §2)
----------------------
``mofa``
    The posterior mean of the factors Z (cells × K), rows in the order of
    ``mdata.obs_names``. The random initialisation of Z follows the rows, so
    MOFA+ runs on the cells sorted by name
    (:func:`mima.methods.base.canonical_order`): the result does not depend
    on the file's cell order.

K = min(``n_factors``, n_cells - 1, total selected features). Factors are
never dropped during training (``dropR2`` off), so the embedding has exactly
K columns; factors the model switches off stay near zero.

Model
-----
- **Views**: one per modality, from its ``X`` (the model input, already
  normalised), with a Gaussian likelihood. MOFA+ needs dense data, so each
  view keeps at most ``max_features`` features: those marked
  ``var['hvf']`` when ``use_hvf`` (the dataset's own HVF selection; every
  feature of modalities without one), then the most variable of them; features
  with no variance are left out.
- **Groups** (*choice*): by default one MOFA+ group per sample
  (``obs['batch']``). This is the only handle MOFA+ has on samples: each
  group's features are centred separately, which removes per-sample offsets,
  and the group-wise ARD prior on the factors lets a factor be active in some
  samples only, so sample-specific variation need not be forced into factors
  shared by all samples. The other methods of the benchmark all see the
  batch, so MOFA+ gets it too. ``groups: none`` fits one group (plain MOFA+).
- ``scale_views`` (default ``True``): each view is scaled to unit variance,
  so that no modality dominates by its scale (MOFA+'s advice for views of
  different ranges).

Parameters (``method_params.mofa``)
-----------------------------------
``n_factors``
    Factors (default 100).
``iterations``
    Maximum training iterations (default 1000).
``convergence``
    ``fast``, ``medium`` or ``slow`` (default ``fast``).
``groups``
    ``batch`` (default) or ``none``.
``scale_views``
    Scale each view to unit variance (default ``True``).
``use_hvf``
    Use only ``var['hvf']`` features (default ``True``).
``max_features``
    Most features per view (default 5000).

mofapy2 prints a banner and progress on stdout; the adapter captures it,
logs it at debug level, and turns its iteration lines into progress lines
(:class:`mima.progress.ProgressLog`: one every 30 s and the last). mofapy2 calls ``sys.exit`` on some errors (and on a
``TypeError`` during training); the adapter turns that into a
``RuntimeError`` so a failure cannot look like success.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time

import numpy as np

from ..errors import InputError
from ..preprocess.pca import column_variance
from ..progress import ProgressLog
from ..utils import dense
from .base import Requirements
from .base import batch_labels, canonical_order, limit_threads, merge_params, modality_matrix, restore_order

__all__ = ["REQUIRES", "DEFAULTS", "run", "version", "view_matrix", "cell_groups", "train_mofa"]

REQUIRES = Requirements(notes="MOFA+ over all modalities (one view each); groups = obs['batch'] by default.")

DEFAULTS = {"n_factors": 100, "iterations": 1000, "convergence": "fast", "groups": "batch",
            "scale_views": True, "use_hvf": True, "max_features": 5000}

CONVERGENCE = ("fast", "medium", "slow")
GROUPS = ("batch", "none")

log = logging.getLogger(__name__)


def _check_options(options: dict) -> None:
    if options["convergence"] not in CONVERGENCE:
        raise InputError("config.yaml", "method_params.mofa.convergence", f"{options['convergence']!r} is unknown",
                         f"use one of {CONVERGENCE}")
    if options["groups"] not in GROUPS:
        raise InputError("config.yaml", "method_params.mofa.groups", f"{options['groups']!r} is unknown",
                         f"use one of {GROUPS}")
    for key in ("n_factors", "iterations", "max_features"):
        if int(options[key]) < 1:
            raise InputError("config.yaml", f"method_params.mofa.{key}", f"{options[key]} < 1", "use a positive number")


def view_matrix(mdata, modality: str, use_hvf: bool = True, max_features: int = 5000,
                rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One modality's MOFA+ view: its selected features, dense.

    Parameters
    ----------
    mdata
        The prepared dataset.
    modality
        Modality name.
    use_hvf
        Keep only ``var['hvf']`` features (where the column exists).
    max_features
        Keep at most this many features: the most variable ones.
    rows
        Row order of the output (indices into ``mdata.obs_names``; default:
        that order).

    Returns
    -------
    values, columns
        float64 cells × selected features, and the selected column indices
        (ascending).

    Raises
    ------
    mima.errors.InputError
        When no feature of the modality varies.
    """
    X = modality_matrix(mdata, modality)
    var = mdata.mod[modality].var
    candidates = np.arange(X.shape[1])
    if use_hvf and "hvf" in var:
        candidates = np.flatnonzero(var["hvf"].to_numpy(dtype=bool))
    variance = column_variance(X[:, candidates])
    varying = variance > 0
    candidates, variance = candidates[varying], variance[varying]
    if candidates.size == 0:
        raise InputError("<prepared dataset>", f"mod['{modality}'].X", "no selected feature varies",
                         "remove the modality from MOFA+ or set use_hvf: false")
    if candidates.size > max_features:
        top = np.argsort(-variance, kind="stable")[: int(max_features)]
        candidates = np.sort(candidates[top])
    values = X[:, candidates] if rows is None else X[rows][:, candidates]
    return dense(values, np.float64), candidates


def cell_groups(batch, groups: str = "batch") -> tuple[list[str], list[np.ndarray]]:
    """MOFA+ groups: names and each group's row indices.

    Parameters
    ----------
    batch
        One batch label per cell.
    groups
        ``batch``: one group per batch (sorted names); ``none``: one group.
    """
    batch = np.asarray(batch).astype(str)
    if groups == "none":
        return ["all"], [np.arange(batch.size)]
    names = [str(name) for name in np.unique(batch)]
    return names, [np.flatnonzero(batch == name) for name in names]


class _PrintedLines(io.StringIO):
    """mofapy2's stdout: kept whole (for an error's tail, and the debug
    log), its ``Iteration <i>: ...`` lines turned into progress lines."""

    def __init__(self, progress: ProgressLog | None):
        super().__init__()
        self.progress, self.pending = progress, ""

    def write(self, text: str) -> int:
        if self.progress is not None:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                found = re.match(r"Iteration (\d+): (.*)", line.strip())
                if found:
                    self.progress.step(int(found.group(1)), found.group(2))
        return super().write(text)


@contextlib.contextmanager
def _captured(what: str, progress: ProgressLog | None = None):
    """Capture mofapy2's stdout (logged at debug level; iterations as
    progress lines), silence its floating-point warnings and turn its
    ``sys.exit`` into a ``RuntimeError``."""
    printed = _PrintedLines(progress)
    try:
        # np.errstate: mofapy2's ELBO takes S·log(S) of spike-and-slab
        # probabilities that reach 0 or 1 (harmless, but it warns every iteration)
        with contextlib.redirect_stdout(printed), np.errstate(divide="ignore", invalid="ignore"):
            yield
    except SystemExit as err:
        tail = " | ".join(printed.getvalue().strip().splitlines()[-5:])
        raise RuntimeError(f"mofapy2 stopped during {what} (exit {err.code}): {tail}") from None
    finally:
        log.debug("mofapy2 %s: %s", what, printed.getvalue().strip())


def _iterations_run(ent, planned: int) -> int:
    """Iterations mofapy2 ran (it stops early when it converges); its
    per-iteration times start with an entry for the initialisation."""
    stats = getattr(getattr(ent, "model", None), "train_stats", None) or {}
    return len(stats["time"]) - 1 if "time" in stats else planned


def train_mofa(views: dict[str, np.ndarray], feature_names: dict[str, list[str]], group_names: list[str],
               group_rows: list[np.ndarray], n_factors: int, iterations: int = 1000, convergence: str = "fast",
               scale_views: bool = True, seed: int = 0) -> np.ndarray:
    """Train MOFA+ and return its factors.

    Parameters
    ----------
    views
        ``{view: cells × features}`` dense float64, rows in one cell order.
    feature_names
        ``{view: names}``, unique across views.
    group_names, group_rows
        MOFA+ groups (:func:`cell_groups`): names and row indices into the
        views; together they cover every row once.
    n_factors
        Factors K.
    iterations, convergence
        mofapy2's ``iter`` and ``convergence_mode``.
    scale_views
        Scale each view to unit variance.
    seed
        mofapy2's seed (initialisation).

    Returns
    -------
    numpy.ndarray
        float64, cells × K, rows in the order of the views.
    """
    from mofapy2.run.entry_point import entry_point

    names = list(views)
    data = [[views[v][rows] for rows in group_rows] for v in names]
    samples = [[f"cell{i}" for i in rows] for rows in group_rows]
    progress = ProgressLog(logging.getLogger("mima.methods.mofa"), "training mofa", iterations, "iterations")
    with _captured("training", progress):
        ent = entry_point()
        ent.set_data_options(scale_views=scale_views, center_groups=True, use_float32=False)
        ent.set_data_matrix(data, likelihoods=["gaussian"] * len(names), views_names=names,
                            groups_names=list(group_names), samples_names=samples,
                            features_names=[list(feature_names[v]) for v in names])
        ent.set_model_options(factors=n_factors, spikeslab_weights=True, ard_weights=True,
                              ard_factors=len(group_names) > 1)
        ent.set_train_options(iter=iterations, convergence_mode=convergence, dropR2=None, seed=seed,
                              verbose=False, quiet=False)  # not quiet: its iteration lines are the progress
        ent.build()
        started = time.perf_counter()
        ent.run()
        progress.step(_iterations_run(ent, iterations), last=True)
        # the rehearsal's projection scales this to the default iterations
        logging.getLogger("mima.methods.mofa").info(
            "trained mofa: %d iterations in %.1f s on %d cells (at most %d; convergence %s)",
            _iterations_run(ent, iterations), time.perf_counter() - started, sum(map(len, group_rows)), iterations,
            convergence)
    factors = np.asarray(ent.model.nodes["Z"].getExpectation(), dtype=np.float64)
    order = np.concatenate(group_rows)
    if factors.shape != (order.size, n_factors):
        raise RuntimeError(f"MOFA+ returned factors of shape {factors.shape}, expected ({order.size}, {n_factors})")
    if not np.isfinite(factors).all():
        raise RuntimeError("MOFA+ returned non-finite factors")
    return restore_order(factors, order)


def run(mdata, modalities: list[str], params: dict, seed: int, threads: int) -> dict[str, np.ndarray]:
    """MOFA+ embedding of a prepared dataset.

    Parameters
    ----------
    mdata
        The prepared dataset (DESIGN §2), with ``obs['batch']``.
    modalities
        Modalities, one MOFA+ view each.
    params
        ``n_factors``, ``iterations``, ``convergence``, ``groups``,
        ``scale_views``, ``use_hvf``, ``max_features`` (see the module
        docstring).
    seed
        mofapy2's seed.
    threads
        BLAS threads.

    Returns
    -------
    dict[str, numpy.ndarray]
        ``mofa``: float32, cells × K in the order of ``mdata.obs_names``.
    """
    options = merge_params(params, DEFAULTS, "mofa")
    _check_options(options)
    order = canonical_order(mdata)  # the random initialisation follows the rows: make it order-free
    views, features = {}, {}
    for m in modalities:
        views[m], columns = view_matrix(mdata, m, options["use_hvf"], options["max_features"], rows=order)
        features[m] = [f"{m}:{j}" for j in columns]  # unique across views, whatever the var_names
    group_names, group_rows = cell_groups(batch_labels(mdata)[order], options["groups"])
    n_factors = min(int(options["n_factors"]), mdata.n_obs - 1, sum(v.shape[1] for v in views.values()))
    with limit_threads(threads):
        factors = train_mofa(views, features, group_names, group_rows, n_factors, int(options["iterations"]),
                             options["convergence"], bool(options["scale_views"]), seed)
    return {"mofa": restore_order(factors, order).astype(np.float32)}


def version() -> str:
    """mofapy2's version."""
    from importlib.metadata import version as dist_version

    return dist_version("mofapy2")
