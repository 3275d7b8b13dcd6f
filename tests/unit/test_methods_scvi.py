"""The scvi-tools adapters (scVI, totalVI, MultiVI) on the real starters and a
simulated spatial dataset: contracted names and shapes, row order by cell
name, determinism, requirement failures. Few epochs: the point is the
contract, not the fit."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import mudata as md
import numpy as np
import pytest
import scipy.sparse as sp

from helpers import shared_dataset
from mima.errors import InputError

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:The number of training batches"),
    pytest.mark.filterwarnings("ignore:.*treespec, LeafSpec"),
    pytest.mark.filterwarnings("ignore:var_names are not unique"),
    pytest.mark.filterwarnings("ignore:Initializing zero-element tensors"),
    pytest.mark.filterwarnings("ignore:The lr scheduler dict contains"),
    pytest.mark.filterwarnings("ignore:Some proteins have all 0 counts"),
    pytest.mark.filterwarnings("ignore:Element .* was written without encoding metadata"),
]

EPOCHS = 2
FAST = {"max_epochs": EPOCHS}
SEED = 3
N_LATENT = 100  # every adapter's default (DESIGN §4: 100-d where the method allows)


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def quiet_and_restored_threads():
    """Silence scvi/lightning INFO logs; give torch its thread count back
    after the module (the adapters set it process-wide)."""
    import torch

    threads = torch.get_num_threads()
    names = ("scvi", "lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    torch.set_num_threads(threads)


def _starter(name: str, modalities: dict):
    from mima.data.io import read_paired
    from mima.preprocess.prepare import prepare_dataset

    folder = shared_dataset(name)
    raw = read_paired(h5ad={m: folder / f"{m}.h5ad" for m in modalities}, batch_key="batch", label_key="cell_type")
    return prepare_dataset(raw, {"modalities": modalities, "preprocess": {"n_top_variance": 500, "n_top_mean": 200}})


@pytest.fixture(scope="module")
def cite():
    return _starter("bmmc_cite_starter", {"rna": {"preprocess": "log_normalize", "hvf": True},
                                          "adt": {"preprocess": "as_provided"}})


@pytest.fixture(scope="module")
def multiome():
    return _starter("bmmc_multiome_starter", {"rna": {"preprocess": "log_normalize"},
                                              "atac": {"preprocess": "atac_bins"}})


@pytest.fixture(scope="module")
def spatial():
    """128 simulated spots: rna counts, MSI intensities (log1p), morphology
    embedding (negative values included)."""
    from mima.data.assemble import assemble_raw
    from mima.preprocess.prepare import prepare_dataset

    modalities = {"rna": {"preprocess": "log_normalize"}, "msi": {"preprocess": "log1p"},
                  "morphology": {"preprocess": "as_provided"}}
    simulate = {"kind": "spatial", "n_patients": 1, "grid": (8, 8), "n_genes": 80, "n_lipids": 30, "n_morphology": 24}
    raw = assemble_raw({"name": "s", "source": "simulate", "seed": 0, "simulate": simulate, "modalities": modalities}, {})
    return prepare_dataset(raw, {"modalities": modalities, "preprocess": {"n_top_variance": 40, "n_top_mean": 20}})


def _reordered(mdata, modality: str):
    """The same dataset with ``modality`` storing its cells in reverse order
    (global ``obs_names`` unchanged): an adapter must match rows by name."""
    mods = {m: (a[::-1].copy() if m == modality else a) for m, a in mdata.mod.items()}
    with md.set_options(pull_on_update=False):
        out = md.MuData(mods)
    out.obs = mdata.obs.loc[out.obs_names].copy()
    assert out.obs_names.equals(mdata.obs_names)
    assert not out.mod[modality].obs_names.equals(mdata.obs_names)
    return out


def _check_embeddings(embeddings: dict, names: set, n_cells: int, n_latent: int = N_LATENT):
    assert set(embeddings) == names
    for name, values in embeddings.items():
        assert isinstance(values, np.ndarray) and values.dtype == np.float32, name
        assert values.shape == (n_cells, n_latent), name
        assert np.isfinite(values).all(), name
        assert values.std() > 0, name


# --------------------------------------------------------------------------
# one run of each adapter, reused
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def totalvi_run(cite):
    from mima.methods import totalvi

    return totalvi.run(cite, ["rna", "adt"], FAST, SEED, 1)


@pytest.fixture(scope="module")
def multivi_run(multiome):
    from mima.methods import multivi

    return multivi.run(multiome, ["rna", "atac"], FAST, SEED, 1)


@pytest.fixture(scope="module")
def spatial_scvi_run(spatial):
    from mima.methods import scvi

    return scvi.run(spatial, ["msi", "morphology"], FAST, SEED, 1)


# --------------------------------------------------------------------------
# contract
# --------------------------------------------------------------------------


def test_adapters_import_without_their_tool():
    code = ("import sys, mima.methods.scvi, mima.methods.totalvi, mima.methods.multivi; "
            "print(sorted(m for m in ('torch', 'scvi', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_versions_are_the_installed_scvi_tools():
    from importlib.metadata import version

    from mima.methods import multivi, scvi, totalvi

    assert scvi.version() == totalvi.version() == multivi.version() == version("scvi-tools")


@pytest.mark.slow
@pytest.mark.parametrize("dataset, modalities", [("cite", ["rna", "adt"]), ("multiome", ["rna", "atac"])])
def test_scvi_embeds_each_modality_of_the_starters(request, dataset, modalities):
    from mima.methods import scvi

    mdata = request.getfixturevalue(dataset)
    embeddings = scvi.run(mdata, modalities, FAST, SEED, 1)
    _check_embeddings(embeddings, {f"scvi_{m}" for m in modalities}, mdata.n_obs)


@pytest.mark.slow
def test_scvi_embeds_modalities_without_counts(spatial, spatial_scvi_run):
    assert "counts" not in spatial.mod["msi"].layers and "counts" not in spatial.mod["morphology"].layers
    assert spatial.mod["morphology"].X.min() < 0  # the shift to non-negative values is exercised
    _check_embeddings(spatial_scvi_run, {"scvi_msi", "scvi_morphology"}, spatial.n_obs)


@pytest.mark.slow
def test_totalvi_embeds_the_cite_starter(cite, totalvi_run):
    _check_embeddings(totalvi_run, {"totalvi"}, cite.n_obs)


@pytest.mark.slow
def test_multivi_embeds_the_multiome_starter(multiome, multivi_run):
    _check_embeddings(multivi_run, {"multivi"}, multiome.n_obs)


@pytest.mark.slow
def test_n_latent_is_a_parameter(spatial):
    from mima.methods import scvi

    embeddings = scvi.run(spatial, ["msi"], {"max_epochs": 1, "n_latent": 7}, SEED, 1)
    _check_embeddings(embeddings, {"scvi_msi"}, spatial.n_obs, n_latent=7)


# --------------------------------------------------------------------------
# row order: by cell name
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_totalvi_rows_follow_obs_names_when_a_modality_is_stored_in_another_order(cite, totalvi_run):
    from mima.methods import totalvi

    again = totalvi.run(_reordered(cite, "adt"), ["rna", "adt"], FAST, SEED, 1)
    np.testing.assert_array_equal(again["totalvi"], totalvi_run["totalvi"])


@pytest.mark.slow
def test_multivi_rows_follow_obs_names_when_a_modality_is_stored_in_another_order(multiome, multivi_run):
    from mima.methods import multivi

    again = multivi.run(_reordered(multiome, "atac"), ["rna", "atac"], FAST, SEED, 1)
    np.testing.assert_array_equal(again["multivi"], multivi_run["multivi"])


@pytest.mark.slow
def test_scvi_rows_follow_obs_names_when_a_modality_is_stored_in_another_order(spatial, spatial_scvi_run):
    from mima.methods import scvi

    again = scvi.run(_reordered(spatial, "morphology"), ["msi", "morphology"], FAST, SEED, 1)
    for name in spatial_scvi_run:
        np.testing.assert_array_equal(again[name], spatial_scvi_run[name])


@pytest.mark.parametrize("modality", ["rna", "msi", "morphology"])
def test_model_input_rows_are_matched_by_cell_name(spatial, modality):
    """Permuting the cells permutes the model input row for row, cells and
    batches included: each embedding row is computed from its own cell."""
    from mima.methods import scvi

    perm = np.random.default_rng(0).permutation(spatial.n_obs)
    permuted = spatial[perm].copy()
    original, _ = scvi.model_input(spatial, modality)
    moved, _ = scvi.model_input(permuted, modality)
    assert list(moved.obs_names) == list(permuted.obs_names)
    assert list(moved.obs["batch"]) == list(permuted.obs["batch"].astype(str))
    dense = (lambda x: x.toarray() if sp.issparse(x) else np.asarray(x))
    position = {name: i for i, name in enumerate(spatial.obs_names)}
    rows = [position[name] for name in permuted.obs_names]
    if modality == "rna":
        np.testing.assert_array_equal(dense(moved.X), dense(original.X)[rows])
    else:  # the shift to non-negative values is per feature over all cells: order-free
        np.testing.assert_allclose(dense(moved.X), dense(original.X)[rows], rtol=0, atol=1e-6)


def test_multivi_and_totalvi_inputs_match_cells_by_name(cite, multiome):
    from mima.methods import multivi, totalvi

    for module, mdata, modality in ((totalvi, cite, "adt"), (multivi, multiome, "atac")):
        built = module.model_input(_reordered(mdata, modality))
        reference = module.model_input(mdata)
        assert list(built.obs_names) == list(mdata.obs_names)
        for m in built.mod:
            a, b = built.mod[m].X, reference.mod[m].X
            a, b = (x.toarray() if sp.issparse(x) else x for x in (a, b))
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_gives_identical_embeddings_and_another_seed_does_not(spatial, spatial_scvi_run):
    from mima.methods import scvi

    again = scvi.run(spatial, ["msi", "morphology"], FAST, SEED, 1)
    other = scvi.run(spatial, ["msi"], FAST, SEED + 1, 1)
    for name in spatial_scvi_run:
        np.testing.assert_array_equal(again[name], spatial_scvi_run[name])
    assert not np.array_equal(other["scvi_msi"], spatial_scvi_run["scvi_msi"])


# --------------------------------------------------------------------------
# inputs: likelihoods, counts, the dataset left untouched
# --------------------------------------------------------------------------


def test_likelihoods_and_inputs_per_modality(cite, multiome, spatial):
    from mima.methods import scvi

    for mdata, modality, expected in ((cite, "rna", "nb"), (cite, "adt", "nb"), (multiome, "atac", "nb"),
                                      (spatial, "msi", "normal"), (spatial, "morphology", "normal")):
        adata, likelihood = scvi.model_input(mdata, modality)
        assert likelihood == expected, modality
        x = adata.X.toarray() if sp.issparse(adata.X) else adata.X
        if expected == "normal":
            assert scvi.SIZE_FACTOR in adata.obs and (adata.obs[scvi.SIZE_FACTOR] == 1.0).all()
            assert x.min() >= 0
        else:
            counts = mdata.mod[modality].layers["counts"]
            np.testing.assert_array_equal(x, counts.toarray() if sp.issparse(counts) else counts)
    _, override = scvi.model_input(multiome, "atac", "poisson")
    assert override == "poisson"


def test_non_negative_shifts_only_features_with_negative_values():
    from mima.methods.scvi import non_negative

    x = np.array([[-2.0, 1.0, 0.0], [3.0, 2.0, 5.0]], dtype=np.float32)
    np.testing.assert_array_equal(non_negative(x), [[0.0, 1.0, 0.0], [5.0, 2.0, 5.0]])
    counts = sp.csr_matrix(np.abs(x))
    assert sp.issparse(non_negative(counts))


def test_multivi_binarises_the_atac_bins(multiome):
    from mima.methods import multivi

    atac = multivi.model_input(multiome).mod["atac"].X
    counts = multiome.mod["atac"].layers["counts"]
    assert counts.max() > 1  # bins sum read counts
    assert set(np.unique(atac.data)) == {1.0}
    np.testing.assert_array_equal(atac.toarray() > 0, counts.toarray() > 0)


def test_multivi_hidden_units_are_never_below_the_latent_size():
    from mima.methods.multivi import DEFAULTS, hidden_units

    assert hidden_units(DEFAULTS, 598) == 100  # MultiVI's rule gives 24
    assert hidden_units(DEFAULTS, 100_000) == 128  # MultiVI's rule at genome scale
    assert hidden_units({**DEFAULTS, "n_hidden": 64}, 598) == 64


@pytest.mark.slow
def test_runs_leave_the_dataset_untouched(cite, multiome, totalvi_run, multivi_run):
    assert list(cite.mod) == ["rna", "adt"] and list(multiome.mod) == ["rna", "atac"]
    assert list(cite.obs.columns) == ["batch", "label"] and list(multiome.obs.columns) == ["batch", "label"]
    assert multiome.mod["atac"].layers["counts"].max() > 1
    assert "_scvi_batch" not in cite.mod["rna"].obs


# --------------------------------------------------------------------------
# failures: InputError before any training
# --------------------------------------------------------------------------


def test_totalvi_needs_adt(multiome):
    from mima.methods import totalvi

    with pytest.raises(InputError, match="adt"):
        totalvi.run(multiome, ["rna", "atac"], FAST, SEED, 1)


def test_totalvi_needs_adt_counts(cite):
    from mima.methods import totalvi

    mods = {m: a.copy() for m, a in cite.mod.items()}
    del mods["adt"].layers["counts"]
    with md.set_options(pull_on_update=False):
        no_counts = md.MuData(mods)
    no_counts.obs = cite.obs.copy()
    with pytest.raises(InputError, match=r"layers\['counts'\]"):
        totalvi.run(no_counts, ["rna", "adt"], FAST, SEED, 1)


def test_multivi_needs_atac(cite):
    from mima.methods import multivi

    with pytest.raises(InputError, match="atac"):
        multivi.run(cite, ["rna", "adt"], FAST, SEED, 1)


def test_unknown_parameter_is_an_input_error(cite, multiome, spatial):
    from mima.methods import multivi, scvi, totalvi

    for module, mdata, modalities in ((scvi, spatial, ["msi"]), (totalvi, cite, ["rna", "adt"]),
                                      (multivi, multiome, ["rna", "atac"])):
        with pytest.raises(InputError, match="n_epochs"):
            module.run(mdata, modalities, {"n_epochs": 3}, SEED, 1)


def test_count_likelihood_without_counts_is_an_input_error(spatial):
    from mima.methods import scvi

    with pytest.raises(InputError, match="no layers"):
        scvi.run(spatial, ["morphology"], {"max_epochs": 1, "likelihood": {"morphology": "nb"}}, SEED, 1)
    with pytest.raises(InputError, match="not an scVI likelihood"):
        scvi.run(spatial, ["rna"], {"max_epochs": 1, "likelihood": {"rna": "gamma"}}, SEED, 1)


def test_training_logs_its_epochs_as_progress(spatial, caplog):
    """A long scvi-tools training is not silent: the epochs reach the log
    (the last one always; others at most every 30 s), with the loss."""
    from mima.methods import scvi

    caplog.set_level(logging.INFO, logger="mima.methods")
    scvi.run(spatial, ["msi"], {"max_epochs": 2, "n_latent": 4}, SEED, 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "mima.methods.scvi_msi"]
    assert any(re.fullmatch(r"training scvi_msi: 2 of 2 epochs \(\d+ s\), train loss [-\d.e+]+", line)
               for line in lines), lines
    assert any(line.startswith("trained scvi_msi: 2 epochs") for line in lines), lines
