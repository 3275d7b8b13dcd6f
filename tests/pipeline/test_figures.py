"""Figures and the HTML report of the tiny `ci` run (DESIGN §5)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.image import imread

from pipeline_helpers import snakemake

COMMON = ["umap_poe", "scib_bio_vs_batch", "qc_sparsity", "qc_hvf_selection", "qc_annotation_counts"]
TRANSLATION = ["translation_mse", "translation_r2"]
CLASSIFICATION = ["classification_loocv", "classification_4cv"]
EXPECTED = {
    "ci_cite": COMMON + TRANSLATION + CLASSIFICATION + ["enrichment_map"]
    + [f"umap_{kind}_{m}" for kind in ("input", "corrected") for m in ("rna", "adt")],
    "ci_multiome": COMMON + TRANSLATION + CLASSIFICATION
    + [f"umap_{kind}_{m}" for kind in ("input", "corrected") for m in ("rna", "atac")],
    "ci_spatial": COMMON + TRANSLATION + CLASSIFICATION + ["tissue_poe_4cv", "translation_maps"]
    + [f"rgb_{m}" for m in ("rna", "msi", "morphology")]
    + [f"umap_{kind}_{m}" for kind in ("input", "corrected") for m in ("rna", "msi", "morphology")],
}


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_every_panel_is_a_valid_non_blank_image(ci_run, dataset):
    folder = ci_run / "results" / dataset / "figures"
    for name in EXPECTED[dataset]:
        png, pdf = folder / f"{name}.png", folder / f"{name}.pdf"
        assert png.is_file() and pdf.is_file(), f"{dataset}: {name} missing"
        image = imread(png)[..., :3]
        assert image.shape[0] >= 200 and image.shape[1] >= 200, f"{dataset}/{name}: {image.shape}"
        # not blank: many distinct colours, not one background
        assert image.std() > 0.03 and len(np.unique(image.reshape(-1, 3), axis=0)) > 20, f"{dataset}/{name} is blank"
        assert pdf.read_bytes()[:5] == b"%PDF-", f"{dataset}/{name}.pdf is not a PDF"
    leftovers = [p.name for p in folder.iterdir() if ".part" in p.name]
    assert not leftovers


def test_tissue_panels_only_for_spatial_data(ci_run):
    assert not list((ci_run / "results" / "ci_cite" / "figures").glob("rgb_*"))
    assert not (ci_run / "results" / "ci_multiome" / "figures" / "tissue_poe_4cv.png").exists()


def test_report_renders_every_figure_with_its_caption_grouped_by_dataset(ci_run):
    report = ci_run / "report.html"
    result = snakemake(ci_run, "ci", "--report", str(report), "--cores", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text()
    for dataset, names in EXPECTED.items():
        assert dataset in html
        for name in names:
            assert f"{name}.png" in html, f"{dataset}/{name} not in the report"
    for table in ("scib.tsv", "translation_mse.tsv", "classification_loocv.tsv", "runtime.tsv"):
        assert table in html
    for caption in ("RGB-UMAP of modality", "bio-conservation score against batch-correction",
                    "held-out translations", "supplementary panel"):
        assert caption in html or caption.replace(" ", "&#32;") in html, caption
    assert re.search(r"ci_bmmc_cite", html)
