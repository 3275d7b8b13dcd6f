"""Unit tests of mima.preprocess: log-normalisation, count checks, ATAC binning, HVF selection."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mima.errors import InputError
from mima.preprocess import normalize
from mima.preprocess.atac import bin_peaks, chromosome_sort_key, parse_peak_names
from mima.preprocess.hvf import feature_mean_var, select_hvf
from mima.preprocess.normalize import check_counts, log_normalize

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


class NoDense(sp.csr_matrix):
    """A CSR matrix that fails the test if anything densifies it."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("densified a sparse matrix")

    def todense(self, *args, **kwargs):
        raise AssertionError("densified a sparse matrix")

    def __array__(self, *args, **kwargs):
        raise AssertionError("densified a sparse matrix")


# --------------------------------------------------------------------------
# log_normalize
# --------------------------------------------------------------------------

COUNTS = np.array([[1, 3, 0], [0, 0, 0], [2, 2, 4]])
# By hand with target_sum=10: row 0 total 4 (scale 2.5), row 2 total 8 (scale 1.25), row 1 stays 0.
EXPECTED_LOG = np.array(
    [
        [math.log1p(2.5), math.log1p(7.5), 0.0],
        [0.0, 0.0, 0.0],
        [math.log1p(2.5), math.log1p(2.5), math.log1p(5.0)],
    ]
)


def test_log_normalize_dense_matches_hand_computation():
    out = log_normalize(COUNTS, target_sum=10)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, EXPECTED_LOG, rtol=1e-6)
    assert not np.isnan(out).any()


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_log_normalize_sparse_stays_sparse_and_matches(fmt):
    counts = sp.csr_matrix(COUNTS).asformat(fmt)
    before = counts.copy()
    out = log_normalize(counts, target_sum=10)
    assert sp.issparse(out) and out.format == "csr" and out.dtype == np.float32
    assert out.nnz == sp.csr_matrix(COUNTS).nnz  # same pattern: zeros stay implicit
    np.testing.assert_allclose(out.toarray(), EXPECTED_LOG, rtol=1e-6)
    assert (counts != before).nnz == 0  # input untouched


def test_log_normalize_default_target_is_1e4():
    out = log_normalize(np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(out, [[math.log1p(5000.0)] * 2], rtol=1e-6)


def test_log_normalize_never_densifies():
    out = log_normalize(NoDense(sp.csr_matrix(COUNTS)), target_sum=10)
    np.testing.assert_allclose(sp.csr_matrix(out).toarray(), EXPECTED_LOG, rtol=1e-6)


def test_log_normalize_merges_duplicate_entries():
    # Two stored entries (1 and 3) for the same cell/feature: the value is 4, not log1p(1)+log1p(3).
    counts = sp.csr_matrix((np.array([1.0, 3.0, 4.0]), np.array([0, 0, 1]), np.array([0, 3])), shape=(1, 2))
    assert not counts.has_canonical_format
    out = log_normalize(counts, target_sum=8)
    np.testing.assert_allclose(out.toarray(), [[math.log1p(4.0), math.log1p(4.0)]], rtol=1e-6)


# --------------------------------------------------------------------------
# check_counts
# --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [np.asarray, sp.csr_matrix])
def test_check_counts_accepts_integer_valued_floats(make):
    check_counts(make(np.array([[0.0, 2.0], [5.0, 0.0]])), "x.h5ad", "layers['counts']")


@pytest.mark.parametrize("make", [np.asarray, sp.csr_matrix])
@pytest.mark.parametrize(
    "bad, word", [(-1.0, "negative"), (0.5, "non-integer"), (np.nan, "non-finite"), (np.inf, "non-finite")]
)
def test_check_counts_rejects_bad_values(make, bad, word):
    matrix = make(np.array([[0.0, 2.0], [bad, 1.0]]))
    with pytest.raises(InputError, match=rf"^x\.h5ad: layers\['counts'\]: .*{word}"):
        check_counts(matrix, "x.h5ad", "layers['counts']")


def test_check_counts_scans_every_block(monkeypatch):
    monkeypatch.setattr(normalize, "_CHECK_BLOCK", 3)
    data = np.ones(10)
    data[-1] = 2.5  # only in the last block
    with pytest.raises(InputError, match="non-integer"):
        check_counts(sp.csr_matrix(data[None, :]), "x", "counts")


def test_check_counts_negative_integers():
    with pytest.raises(InputError, match="negative"):
        check_counts(np.array([[1, -3]], dtype=np.int32), "x", "counts")


# --------------------------------------------------------------------------
# ATAC peaks
# --------------------------------------------------------------------------


def test_parse_peak_names_both_notations():
    peaks = parse_peak_names(["chr1-100-200", "chr2:300-400", "GL000205.2-67850-68750"])
    assert peaks["chrom"].tolist() == ["chr1", "chr2", "GL000205.2"]
    assert peaks["start"].tolist() == [100, 300, 67850]
    assert peaks["end"].tolist() == [200, 400, 68750]
    assert peaks["start"].dtype == np.int64


def test_parse_peak_names_names_first_bad_one_and_format():
    with pytest.raises(InputError) as caught:
        parse_peak_names(["chr1-1-2", "chr1_5_9", "also bad"], source="atac.h5ad")
    message = str(caught.value)
    assert message.startswith("atac.h5ad: ")
    assert "'chr1_5_9'" in message and "also bad" not in message
    assert "chrN-start-end" in message and "chrN:start-end" in message


def test_parse_peak_names_rejects_start_after_end():
    with pytest.raises(InputError, match="chr1-300-200"):
        parse_peak_names(["chr1-100-200", "chr1-300-200"])


def test_chromosome_natural_order():
    names = ["chrM", "chr10", "chrY", "chr2", "GL000205.2", "chrX", "chr1"]
    assert sorted(names, key=chromosome_sort_key) == ["chr1", "chr2", "chr10", "chrX", "chrY", "GL000205.2", "chrM"]


# Hand-made peaks, bin size 100, with the bin each one must land in (midpoint rule).
HAND_PEAKS = {
    "chr2-10-50": "chr2-0-100",  # midpoint 30
    "chr10:120-180": "chr10-100-200",  # colon notation, midpoint 150
    "chr1-90-130": "chr1-100-200",  # straddles 100; midpoint 110 -> upper bin only
    "chr1-60-120": "chr1-0-100",  # straddles 100; midpoint 90 -> lower bin only
    "chrX-0-10": "chrX-0-100",
    "chr1:150-190": "chr1-100-200",  # shares a bin with chr1-90-130
    "chrY-200-260": "chrY-200-300",
    "chrM-0-50": "chrM-0-100",
    "chr2-1000-1100": "chr2-1000-1100",  # midpoint 1050 -> bin 10
    "chr2-250-260": "chr2-200-300",  # bin 2: must come before bin 10 (numeric, not string, order)
    "chr3-50-150": "chr3-100-200",  # midpoint exactly 100 -> bin 1
    "chr3-99-100": "chr3-0-100",  # midpoint 99.5 -> bin 0
}
HAND_BIN_ORDER = [
    "chr1-0-100", "chr1-100-200", "chr2-0-100", "chr2-200-300", "chr2-1000-1100", "chr3-0-100",
    "chr3-100-200", "chr10-100-200", "chrX-0-100", "chrY-200-300", "chrM-0-100",
]


def _hand_binned(counts: np.ndarray) -> np.ndarray:
    expected = np.zeros((counts.shape[0], len(HAND_BIN_ORDER)))
    for column, target in enumerate(HAND_PEAKS.values()):
        expected[:, HAND_BIN_ORDER.index(target)] += counts[:, column]
    return expected


def test_bin_peaks_hand_made_known_answer():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 5, size=(4, len(HAND_PEAKS)))
    binned, names = bin_peaks(sp.csr_matrix(counts), list(HAND_PEAKS), bin_size=100)
    assert names == HAND_BIN_ORDER
    assert sp.isspmatrix_csr(binned) and binned.dtype == np.float32
    np.testing.assert_array_equal(binned.toarray(), _hand_binned(counts))


@pytest.mark.parametrize("make", [np.asarray, sp.csc_matrix, NoDense])
def test_bin_peaks_any_input_format_same_result(make):
    counts = np.arange(3 * len(HAND_PEAKS), dtype=np.float64).reshape(3, -1)
    binned, names = bin_peaks(make(counts), list(HAND_PEAKS), bin_size=100)
    assert sp.issparse(binned) and names == HAND_BIN_ORDER
    assert binned.dtype == np.float64  # float input keeps its dtype
    np.testing.assert_array_equal(sp.csr_matrix(binned).toarray(), _hand_binned(counts))


def test_bin_peaks_default_bin_size_is_5kb():
    _, names = bin_peaks(np.ones((1, 2)), ["chr1-4990-5020", "chr1-4000-4100"])
    assert names == ["chr1-0-5000", "chr1-5000-10000"]


def test_bin_peaks_rejects_name_count_mismatch():
    with pytest.raises(InputError, match="2 peak names for a matrix with 3 columns"):
        bin_peaks(np.ones((1, 3)), ["chr1-1-2", "chr1-3-4"])


@pytest.mark.filterwarnings("ignore:Element .* was written without encoding metadata")
def test_bin_peaks_real_starter_peaks():
    folder = SHARED_DATA / "bmmc_multiome_starter"
    if not (folder / "atac.h5ad").is_file():
        pytest.skip(f"real test data folder {folder} is absent")
    import anndata as ad

    atac = ad.read_h5ad(folder / "atac.h5ad")
    counts = atac.layers["counts"]
    binned, names = bin_peaks(counts, atac.var_names, bin_size=5000)
    assert binned.shape == (atac.n_obs, len(names))
    assert len(names) < atac.n_vars  # some peaks share a 5 kb bin
    np.testing.assert_allclose(np.asarray(binned.sum(axis=1)).ravel(), np.asarray(counts.sum(axis=1)).ravel())
    assert binned.sum() == pytest.approx(counts.sum())
    bins = parse_peak_names(names)
    assert ((bins["end"] - bins["start"]) == 5000).all() and (bins["start"] % 5000 == 0).all()
    keys = [(chromosome_sort_key(c), s) for c, s in zip(bins["chrom"], bins["start"])]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    chromosomes = list(dict.fromkeys(bins["chrom"]))
    assert chromosomes.index("chr2") < chromosomes.index("chr10") < chromosomes.index("chrX")
    assert chromosomes[-1] == "GL000205.2"


# --------------------------------------------------------------------------
# HVF selection
# --------------------------------------------------------------------------

# Columns (4 cells): mean / variance
#  f0 [0,0,10,10]      5   / 25
#  f1 [0,2,0,2]        1   / 1
#  f2 [100]*4          100 / 0
#  f3 [0,0,0,4]        1   / 3
#  f4 [5,6,5,6]        5.5 / 0.25
HVF_X = np.array(
    [[0, 0, 100, 0, 5], [0, 2, 100, 0, 6], [10, 0, 100, 0, 5], [10, 2, 100, 4, 6]], dtype=np.float64
)


def test_hvf_variance_first_then_mean():
    # Variance top 3: f0, f3, f1; then mean top 2: f0 (5), then f1 and f3 tie at mean 1 -> lower index f1.
    mask = select_hvf(HVF_X, n_top_variance=3, n_top_mean=2)
    assert mask.dtype == bool and mask.shape == (5,)
    assert np.flatnonzero(mask).tolist() == [0, 1]
    # Mean first would have given f2, f4, f0 then variance -> {f0, f4}: the order of the filters matters.
    assert np.flatnonzero(mask).tolist() != [0, 4]


def test_hvf_ties_broken_by_index():
    X = np.tile(np.array([[0.0], [1.0], [3.0]]), (1, 6))  # six identical features
    assert np.flatnonzero(select_hvf(X, n_top_variance=4, n_top_mean=2)).tolist() == [0, 1]


def test_hvf_keeps_all_when_fewer_features_than_requested():
    assert select_hvf(HVF_X).all()  # defaults 2000 / 1000 on 5 features
    assert np.flatnonzero(select_hvf(HVF_X, n_top_variance=2, n_top_mean=10)).tolist() == [0, 3]


@pytest.mark.parametrize("make", [sp.csr_matrix, sp.csc_matrix, NoDense])
def test_hvf_sparse_equals_dense(make):
    rng = np.random.default_rng(1)
    counts = rng.poisson(0.3, size=(200, 300)) * rng.integers(1, 20, size=300)
    X = log_normalize(sp.csr_matrix(counts)).toarray()
    dense = select_hvf(X, n_top_variance=120, n_top_mean=50)
    sparse = select_hvf(make(sp.csr_matrix(X)), n_top_variance=120, n_top_mean=50)
    assert dense.sum() == 50
    np.testing.assert_array_equal(sparse, dense)


def test_feature_mean_var_matches_numpy():
    X = sp.random(50, 20, density=0.2, random_state=3, format="csr")
    mean, variance = feature_mean_var(X)
    np.testing.assert_allclose(mean, X.toarray().mean(axis=0))
    np.testing.assert_allclose(variance, X.toarray().var(axis=0), atol=1e-12)


def test_hvf_rejects_negative_feature_counts():
    with pytest.raises(InputError, match="n_top_mean"):
        select_hvf(HVF_X, n_top_mean=-1)


def test_integer_x_without_counts_serves_as_counts_when_used_as_provided(caplog):
    """The README's own example: ADT `as_provided` with integer X and no counts layer (issue 18 §2)."""
    import logging

    import anndata as ad

    from mima.preprocess.prepare import prepare_modality

    counts = np.array([[0, 3, 1], [5, 0, 2]], dtype=np.float32)
    caplog.set_level(logging.INFO, logger="mima.preprocess.prepare")
    out = prepare_modality(ad.AnnData(counts), "adt", "as_provided", {}, "adt.h5ad")
    np.testing.assert_array_equal(out.layers["counts"], counts)
    assert any("X is used as its counts" in r.getMessage() and "adt.h5ad" in r.getMessage() for r in caplog.records)
    normalised = prepare_modality(ad.AnnData(counts + 0.5), "adt", "as_provided", {}, "adt.h5ad")
    assert "counts" not in normalised.layers  # not counts: none invented
    logged = prepare_modality(ad.AnnData(counts), "adt", "log1p", {}, "adt.h5ad")
    assert "counts" not in logged.layers  # transformed on purpose: X is not taken for counts
