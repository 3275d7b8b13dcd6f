# Figures (DESIGN §5): every panel a target under results/{dataset}/figures/
# (PNG + PDF), each PNG in the HTML report (`snakemake --report report.html`)
# with a caption, grouped by dataset.


wildcard_constraints:
    view="(input|corrected)_[A-Za-z0-9]+|poe",
    qc="sparsity|hvf_selection|annotation_counts",
    scheme="loocv|4cv",


rule umap:
    # every UMAP of a dataset in one job: umap-learn's numba compilation is
    # then paid once
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        outputs=f"{RESULTS}/{{dataset}}/mima/outputs.h5mu",
        mima=f"{RESULTS}/{{dataset}}/embeddings/mima.h5ad",
    output:
        f"{RESULTS}/{{dataset}}/umap.h5ad",
    log:
        f"{LOGS}/umap.log",
    benchmark:
        f"{BENCHMARKS}/umap.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        settings=figure_params,
        three_d=lambda w: is_spatial(w.dataset),
    script:
        "../scripts/umap.py"


rule figure_umap:
    input:
        f"{RESULTS}/{{dataset}}/umap.h5ad",
    output:
        **figure_output("umap_{view}", "umap", "UMAPs"),
    log:
        f"{LOGS}/figure_umap_{{view}}.log",
    benchmark:
        f"{BENCHMARKS}/figure_umap_{{view}}.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figure_umap.py"


rule figure_rgb:
    input:
        umap=f"{RESULTS}/{{dataset}}/umap.h5ad",
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
    output:
        **figure_output("rgb_{modality}", "rgb", "Tissue"),
    log:
        f"{LOGS}/figure_rgb_{{modality}}.log",
    benchmark:
        f"{BENCHMARKS}/figure_rgb_{{modality}}.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=figure_params,
    script:
        "../scripts/figure_rgb.py"


rule figure_tissue_poe_4cv:
    input:
        unpack(tissue_poe_inputs),
    output:
        **figure_output("tissue_poe_4cv", "tissue_poe_4cv", "Tissue"),
    log:
        f"{LOGS}/figure_tissue_poe_4cv.log",
    benchmark:
        f"{BENCHMARKS}/figure_tissue_poe_4cv.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=figure_params,
    script:
        "../scripts/figure_tissue_poe_4cv.py"


rule translation_map_values:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        folds=f"{RESULTS}/{{dataset}}/folds.tsv",
        models=lambda w: list(fold_files(w.dataset, "model").values()),
        r2=f"{RESULTS}/{{dataset}}/tables/translation_r2.tsv",
    output:
        f"{RESULTS}/{{dataset}}/translation/map_values.tsv.gz",
    log:
        f"{LOGS}/translation_map_values.log",
    benchmark:
        f"{BENCHMARKS}/translation_map_values.tsv"
    conda:
        "../../envs/mima.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=figure_params,
        # the fold of each input.models, in order
        folds=lambda w: list(fold_files(w.dataset, "model")),
    script:
        "../scripts/translation_map_values.py"


rule figure_translation_maps:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        values=f"{RESULTS}/{{dataset}}/translation/map_values.tsv.gz",
    output:
        **figure_output("translation_maps", "translation_maps", "Tissue"),
    log:
        f"{LOGS}/figure_translation_maps.log",
    benchmark:
        f"{BENCHMARKS}/figure_translation_maps.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/figure_translation_maps.py"


rule figure_enrichment:
    input:
        scores=f"{RESULTS}/{{dataset}}/tables/enrichment.tsv",
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        umap=f"{RESULTS}/{{dataset}}/umap.h5ad",
    output:
        **figure_output("enrichment_map", "enrichment_map", "Evaluation"),
    log:
        f"{LOGS}/figure_enrichment.log",
    benchmark:
        f"{BENCHMARKS}/figure_enrichment.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=figure_params,
        spatial=lambda w: is_spatial(w.dataset),
    script:
        "../scripts/figure_enrichment.py"


rule figure_scib:
    input:
        f"{RESULTS}/{{dataset}}/tables/scib.tsv",
    output:
        **figure_output("scib_bio_vs_batch", "scib_bio_vs_batch", "Evaluation"),
    log:
        f"{LOGS}/figure_scib.log",
    benchmark:
        f"{BENCHMARKS}/figure_scib.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/figure_scib.py"


rule figure_classification:
    input:
        f"{RESULTS}/{{dataset}}/tables/classification_{{scheme}}.tsv",
    output:
        **figure_output("classification_{scheme}", "classification", "Evaluation"),
    log:
        f"{LOGS}/figure_classification_{{scheme}}.log",
    benchmark:
        f"{BENCHMARKS}/figure_classification_{{scheme}}.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/figure_classification.py"


rule figure_translation:
    input:
        per_cell=f"{RESULTS}/{{dataset}}/translation/per_cell_mse.tsv.gz",
        r2=f"{RESULTS}/{{dataset}}/tables/translation_r2.tsv",
    output:
        mse_png=report(
            f"{FIGURES}/translation_mse.png",
            caption="../report/translation_mse.rst",
            category="{dataset}",
            subcategory="Evaluation",
            labels={"dataset": "{dataset}", "figure": "translation_mse"},
        ),
        mse_pdf=f"{FIGURES}/translation_mse.pdf",
        r2_png=report(
            f"{FIGURES}/translation_r2.png",
            caption="../report/translation_r2.rst",
            category="{dataset}",
            subcategory="Evaluation",
            labels={"dataset": "{dataset}", "figure": "translation_r2"},
        ),
        r2_pdf=f"{FIGURES}/translation_r2.pdf",
    log:
        f"{LOGS}/figure_translation.log",
    benchmark:
        f"{BENCHMARKS}/figure_translation.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figure_translation.py"


rule figure_qc:
    input:
        f"{RESULTS}/{{dataset}}/prepared.h5mu",
    output:
        **figure_output("qc_{qc}", "qc", "Supplementary"),
    log:
        f"{LOGS}/figure_qc_{{qc}}.log",
    benchmark:
        f"{BENCHMARKS}/figure_qc_{{qc}}.tsv"
    conda:
        "../../envs/plot.yaml"
    resources:
        # reads the prepared data whole: 1.9 x its size at the study's CITE-seq size
        mem_mb=memory_mb(4000, 2.5),
        runtime=10,
    script:
        "../scripts/figure_qc.py"
