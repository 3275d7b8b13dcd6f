"""Figures: the RGB mapping, colours, the numbers the panels draw, and that
saved images are valid and not blank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from mima.errors import InputError
from mima.plot.embedding_figures import rgb_tissue_figure, umap_figure
from mima.figure_choices import choose_features, choose_samples, match_feature
from mima.plot.metric_figures import (classification_summary, failed_methods, scib_scatter_figure, scib_scores)
from mima.plot.style import MISSING_COLOUR, category_colours, save_figure
from mima.plot.umap import rgb_from_coordinates, umap_coordinates


def test_rgb_scales_each_axis_to_unit_range_over_all_cells():
    coordinates = np.array([[0.0, 10.0, 5.0], [2.0, 20.0, 5.0], [1.0, 15.0, 5.0], [0.5, 12.5, 5.0]])
    rgb = rgb_from_coordinates(coordinates)
    np.testing.assert_allclose(rgb[:, 0], [0.0, 1.0, 0.5, 0.25])
    np.testing.assert_allclose(rgb[:, 1], [0.0, 1.0, 0.5, 0.25])
    np.testing.assert_allclose(rgb[:, 2], 0.5)  # no spread: mid-grey channel, not a division by zero


def test_rgb_rejects_other_than_three_axes():
    with pytest.raises(ValueError, match="cells × 3"):
        rgb_from_coordinates(np.zeros((4, 2)))


def test_tissue_panels_use_the_global_rgb_scaling_not_one_per_sample():
    rng = np.random.default_rng(0)
    coordinates = rng.normal(size=(40, 3))
    coordinates[20:] += 5.0  # the second sample sits elsewhere in UMAP space
    obs = pd.DataFrame({"batch": ["a"] * 20 + ["b"] * 20}, index=[f"c{i}" for i in range(40)])
    spatial = rng.uniform(size=(40, 2))
    figure = rgb_tissue_figure({"input": coordinates}, obs, spatial, ["a", "b"], "test")
    expected = rgb_from_coordinates(coordinates)
    drawn = [ax.collections[0].get_facecolors()[:, :3] for ax in figure.axes[:2]]
    np.testing.assert_allclose(drawn[0], expected[:20], atol=1e-6)
    np.testing.assert_allclose(drawn[1], expected[20:], atol=1e-6)
    # per-sample scaling would stretch the second sample over the full range too
    assert drawn[1].min() > 0.2


def test_category_colours_stay_distinct_for_many_categories():
    categories = [f"type {i}" for i in range(45)] + ["unlabelled"]
    colours = category_colours(categories)
    annotated = [tuple(np.round(colours[c], 4)) for c in categories[:-1]]
    assert len(set(annotated)) == 45
    assert colours["unlabelled"] == MISSING_COLOUR
    many = category_colours([f"t{i}" for i in range(90)])
    assert len({tuple(np.round(v, 4)) for v in many.values()}) == 90


def test_saved_figure_is_a_valid_non_blank_png_and_pdf(tmp_path):
    rng = np.random.default_rng(1)
    obs = pd.DataFrame({"batch": rng.choice(["s1", "s2"], 100), "label": rng.choice(list("abcdefghijkl"), 100)})
    figure = umap_figure(rng.normal(size=(100, 2)), obs, "test")
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    save_figure(figure, str(png), str(pdf))
    image = imread(png)
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # not blank
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]  # no temporary file left


def test_save_leaves_no_file_under_the_final_name_when_drawing_fails(tmp_path):
    class Broken:
        def savefig(self, path, **kwargs):
            with open(path, "wb") as handle:
                handle.write(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_figure(Broken(), str(tmp_path / "f.png"), str(tmp_path / "f.pdf"))
    assert list(tmp_path.iterdir()) == []


def test_umap_is_seeded():
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(60, 80))  # > 50 features: PCA first
    first = umap_coordinates(matrix, 3, seed=4)
    np.testing.assert_array_equal(first, umap_coordinates(matrix, 3, seed=4))
    assert first.shape == (60, 3)
    shorter = umap_coordinates(matrix, 3, seed=4, n_epochs=20)  # the demo's setting reaches umap-learn
    np.testing.assert_array_equal(shorter, umap_coordinates(matrix, 3, seed=4, n_epochs=20))
    assert not np.allclose(shorter, first)


def test_classification_bars_average_classes_per_fold_then_folds():
    rows = []
    for fold, value in (("0", 0.5), ("1", 0.7), ("2", 0.9)):
        rows.append({"method": "input", "embedding": "rna", "fold": fold, "class": "mean", "metric": "f1",
                     "value": value, "status": "ok"})
        rows.append({"method": "input", "embedding": "rna", "fold": fold, "class": "tumour", "metric": "f1",
                     "value": 0.0, "status": "ok"})  # a per-class row: not what the bars average
    rows.append({"method": "input", "embedding": "rna", "fold": "mean", "class": "mean", "metric": "f1",
                 "value": 0.7, "status": "ok"})
    summary = classification_summary(pd.DataFrame(rows))
    assert len(summary) == 1
    assert summary.loc[0, "mean"] == pytest.approx(0.7)
    assert summary.loc[0, "std"] == pytest.approx(0.2)
    assert summary.loc[0, "n_folds"] == 3


def test_scib_scatter_lists_failed_methods():
    table = pd.DataFrame([
        {"method": "pca", "embedding": "pca_rna", "metric": "bio_conservation", "value": 0.6, "status": "ok", "reason": ""},
        {"method": "pca", "embedding": "pca_rna", "metric": "batch_correction", "value": 0.4, "status": "ok", "reason": ""},
        {"method": "scvi", "embedding": "", "metric": "", "value": np.nan, "status": "failed", "reason": "NaN loss"},
    ])
    scores = scib_scores(table)
    assert scores[["bio_conservation", "batch_correction"]].to_numpy().tolist() == [[0.6, 0.4]]
    assert failed_methods(table) == {"scvi": "NaN loss"}
    figure = scib_scatter_figure(table, "test")
    assert "scvi (NaN loss)" in figure.get_supxlabel()
    ax = figure.axes[0]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 2  # the two average lines


def test_mz_feature_matches_the_nearest_mass_within_tolerance():
    names = ["mz_701.512", "mz_702.5441", "mz_703.58"]
    assert match_feature(names, "702.544", "config.yaml", "figures.features[0].feature") == "mz_702.5441"
    with pytest.raises(InputError, match=r"figures.features\[0\].feature.*fix: name one of"):
        match_feature(names, "705.1", "config.yaml", "figures.features[0].feature")
    assert match_feature(["NEFH", "ACTB"], "NEFH", "c", "f") == "NEFH"


def test_default_translation_feature_is_the_best_translated():
    features = {"rna": ["g1", "g2", "g3"]}
    r2 = pd.DataFrame({"method": "mima", "metric": "r2", "target": "rna", "source": "msi",
                       "feature": ["g1", "g2", "g3"], "value": [0.1, 0.8, 0.3]})
    chosen = choose_features([], features, r2, "s1", ["s1"])
    assert chosen == [{"modality": "rna", "feature": "g2", "sample": "s1"}]
    with pytest.raises(InputError, match=r"figures.features\[0\].sample"):
        choose_features([{"modality": "rna", "feature": "g1", "sample": "nowhere"}], features, r2, "s1", ["s1"])


def test_tissue_samples_default_and_unknown():
    assert choose_samples(["b", "a", "b", "c"], None) == ["b", "a"]
    with pytest.raises(InputError, match="figures.samples.*'x' is not in the data"):
        choose_samples(["a"], ["x"])
