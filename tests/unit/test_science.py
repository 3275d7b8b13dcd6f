"""Does the trained model do what MIMA is for? On simulated CITE-like data
with known cell types and a strong batch effect, the PoE embedding must keep
the biology and shed most of the batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from mima.api import MIMA
from mima.data.simulate import simulate_cite
from mima.preprocess.normalize import log_normalize


def variance_shares(embedding: np.ndarray, label: np.ndarray, batch: np.ndarray) -> tuple[float, float]:
    """Shares of the embedding's total variance explained by the label
    (between cell-type means) and by the batch within each cell type."""
    centred = embedding - embedding.mean(0)
    total = (centred ** 2).sum()
    type_means = pd.DataFrame(centred).groupby(label).transform("mean").to_numpy()
    within_type = centred - type_means
    batch_means = pd.DataFrame(within_type).groupby([label, batch]).transform("mean").to_numpy()
    return float((type_means ** 2).sum() / total), float((batch_means ** 2).sum() / total)


def label_transfer_accuracy(embedding: np.ndarray, label: np.ndarray, batch: np.ndarray) -> float:
    """kNN trained on the first batch's cells, scored on the other batches'."""
    first = batch == batch[0]
    knn = KNeighborsClassifier(n_neighbors=15).fit(embedding[first], label[first])
    return float(knn.score(embedding[~first], label[~first]))


@pytest.fixture(scope="module")
def cite():
    mdata = simulate_cite(n_cells=1200, n_genes=500, n_proteins=60, n_batches=2, seed=0)
    for adata in mdata.mod.values():
        adata.X = log_normalize(adata.layers["counts"])
    return mdata


@pytest.mark.slow
def test_poe_keeps_cell_types_and_sheds_the_batch(cite):
    label = cite.obs["label"].astype(str).to_numpy()
    batch = cite.obs["batch"].astype(str).to_numpy()
    model = MIMA.setup(cite, ["rna", "adt"], model_params={"latent_dim": 32, "beta_poe": 0.1}, seed=0)
    model.train(cite, {"max_epochs": 100, "min_steps": 0, "lr": 1e-3, "progress": False})
    poe = model.get_latent(cite)["poe"]
    baseline = PCA(32, random_state=0).fit_transform(cite.mod["rna"].X.toarray())

    assert label_transfer_accuracy(poe, label, batch) >= 0.9
    poe_label, poe_batch = variance_shares(poe, label, batch)
    input_label, input_batch = variance_shares(baseline, label, batch)
    # the cell type explains far more of the PoE than the batch does ...
    assert poe_label >= 10 * poe_batch, (poe_label, poe_batch)
    # ... and, against the input, the batch share shrinks while the biology's grows
    assert poe_batch <= 0.5 * input_batch, (poe_batch, input_batch)
    assert poe_label > input_label, (poe_label, input_label)


def test_variance_shares_on_a_hand_made_example():
    label = np.array(["a", "a", "b", "b"])
    batch = np.array(["x", "y", "x", "y"])
    embedding = np.array([[-2.0 - 1], [-2.0 + 1], [2.0 - 1], [2.0 + 1]])  # type ±2, batch ±1
    label_share, batch_share = variance_shares(embedding, label, batch)
    assert label_share == pytest.approx(16 / 20) and batch_share == pytest.approx(4 / 20)
