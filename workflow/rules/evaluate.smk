# Evaluation (DESIGN §4): scIB per method, classification per input,
# translation 4CV with MIMA retrained per fold, enrichment; long tables.


rule train_mima_fold:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        folds=f"{RESULTS}/{{dataset}}/folds.tsv",
    output:
        directory(f"{RESULTS}/{{dataset}}/mima/cv/{{fold}}/model"),
    log:
        f"{LOGS}/train_mima_fold_{{fold}}.log",
    benchmark:
        f"{BENCHMARKS}/train_mima_fold_{{fold}}.tsv"
    conda:
        "../../envs/mima.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        settings=mima_params,
        checkpoint_dir=f"{RESULTS}/{{dataset}}/mima/cv/{{fold}}/.ckpt",
    script:
        "../scripts/train_mima_fold.py"


rule predict_mima_fold:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        folds=f"{RESULTS}/{{dataset}}/folds.tsv",
        model=f"{RESULTS}/{{dataset}}/mima/cv/{{fold}}/model",
    output:
        f"{RESULTS}/{{dataset}}/mima/cv/{{fold}}/heldout_scores.h5mu",
    log:
        f"{LOGS}/predict_mima_fold_{{fold}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_mima_fold_{{fold}}.tsv"
    conda:
        "../../envs/mima.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/predict_mima_fold.py"


rule translation_tables:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        folds=f"{RESULTS}/{{dataset}}/folds.tsv",
        scores=lambda w: list(fold_files(w.dataset, "heldout_scores.h5mu").values()),
        pca=f"{RESULTS}/{{dataset}}/embeddings/pca.h5ad",
    output:
        mse=report(
            f"{RESULTS}/{{dataset}}/tables/translation_mse.tsv",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="Tables",
            labels={"dataset": "{dataset}", "table": "translation_mse"},
        ),
        r2=report(
            f"{RESULTS}/{{dataset}}/tables/translation_r2.tsv",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="Tables",
            labels={"dataset": "{dataset}", "table": "translation_r2"},
        ),
        per_cell=f"{RESULTS}/{{dataset}}/translation/per_cell_mse.tsv.gz",
    log:
        f"{LOGS}/translation_tables.log",
    benchmark:
        f"{BENCHMARKS}/translation_tables.tsv"
    conda:
        "../../envs/mima.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=lambda w: canonical(DATASETS[w.dataset]["evaluation"]["translation"]),
        unlabelled=lambda w: DATASETS[w.dataset]["evaluation"]["scib"].get("unlabelled", []),
        # the fold of each input.scores, in order
        folds=lambda w: list(fold_files(w.dataset, "heldout_scores.h5mu")),
    script:
        "../scripts/translation_tables.py"


rule scib:
    # every embedding of every method in one job: scib-metrics' jax / numba
    # compilation (~40 s) is then paid once per dataset, not once per method
    input:
        embeddings=lambda w: embedding_files(w.dataset),
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        pca=f"{RESULTS}/{{dataset}}/embeddings/pca.h5ad",
    output:
        report(
            f"{RESULTS}/{{dataset}}/tables/scib.tsv",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="Tables",
            labels={"dataset": "{dataset}", "table": "scib"},
        ),
    log:
        f"{LOGS}/scib.log",
    benchmark:
        f"{BENCHMARKS}/scib.tsv"
    conda:
        "../../envs/scib.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        settings=lambda w: canonical(DATASETS[w.dataset]["evaluation"]["scib"]),
        seed=lambda w: DATASETS[w.dataset]["seed"],
    script:
        "../scripts/scib.py"


rule classification:
    input:
        unpack(classification_inputs),
    output:
        per_class=f"{RESULTS}/{{dataset}}/classification/{{clf_input}}.tsv",
        predictions=f"{RESULTS}/{{dataset}}/classification/{{clf_input}}_predictions.tsv.gz",
    log:
        f"{LOGS}/classification_{{clf_input}}.log",
    benchmark:
        f"{BENCHMARKS}/classification_{{clf_input}}.tsv"
    conda:
        "../../envs/evaluate.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=600,
    params:
        settings=classification_params,
    script:
        "../scripts/classification.py"


rule classification_tables:
    input:
        lambda w: [
            f"{RESULTS}/{w.dataset}/classification/{name}.tsv"
            for name in classification_input_names(w.dataset)
        ],
    output:
        loocv=report(
            f"{RESULTS}/{{dataset}}/tables/classification_loocv.tsv",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="Tables",
            labels={"dataset": "{dataset}", "table": "classification_loocv"},
        ),
        cv=report(
            f"{RESULTS}/{{dataset}}/tables/classification_4cv.tsv",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="Tables",
            labels={"dataset": "{dataset}", "table": "classification_4cv"},
        ),
    log:
        f"{LOGS}/classification_tables.log",
    benchmark:
        f"{BENCHMARKS}/classification_tables.tsv"
    conda:
        "../../envs/evaluate.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/classification_tables.py"


rule enrichment:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        outputs=f"{RESULTS}/{{dataset}}/mima/outputs.h5mu",
        gene_set=lambda w: local_path(DATASETS[w.dataset]["evaluation"]["gene_set"]),
    output:
        report(
            f"{RESULTS}/{{dataset}}/tables/enrichment.tsv",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="Tables",
            labels={"dataset": "{dataset}", "table": "enrichment"},
        ),
    log:
        f"{LOGS}/enrichment.log",
    benchmark:
        f"{BENCHMARKS}/enrichment.tsv"
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        seed=lambda w: DATASETS[w.dataset]["seed"],
    script:
        "../scripts/enrichment.py"


rule summary_table:
    input:
        lambda w: [
            f"{RESULTS}/{d}/tables/{w.table}.tsv"
            for d in target_datasets(w.target)
            if table_applies(d, w.table)
        ],
    output:
        report(
            f"{RESULTS}/summary/{{target}}/{{table}}.tsv",
            caption="../report/table.rst",
            category="Summary ({target})",
            labels={"table": "{table}"},
        ),
    log:
        f"{RESULTS}/summary/{{target}}/logs/{{table}}.log",
    benchmark:
        f"{RESULTS}/summary/{{target}}/benchmarks/{{table}}.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/summary_table.py"
