# Preprocessing: model inputs, HVF masks and the within-sample folds.


rule prepare:
    input:
        f"{RESULTS}/{{dataset}}/raw.h5mu",
    output:
        f"{RESULTS}/{{dataset}}/prepared.h5mu",
    log:
        f"{LOGS}/prepare.log",
    benchmark:
        f"{BENCHMARKS}/prepare.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        settings=prepare_params,
    script:
        "../scripts/prepare.py"


rule folds:
    input:
        f"{RESULTS}/{{dataset}}/prepared.h5mu",
    output:
        f"{RESULTS}/{{dataset}}/folds.tsv",
    log:
        f"{LOGS}/folds.log",
    benchmark:
        f"{BENCHMARKS}/folds.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        n_folds=lambda w: DATASETS[w.dataset]["preprocess"].get("n_folds", 4),
        seed=lambda w: DATASETS[w.dataset]["seed"],
    script:
        "../scripts/folds.py"
