# MIMA: train on every cell, then embeddings and reconstructions.


rule train_mima:
    input:
        f"{RESULTS}/{{dataset}}/prepared.h5mu",
    output:
        directory(f"{RESULTS}/{{dataset}}/mima/model"),
    log:
        f"{LOGS}/train_mima.log",
    benchmark:
        f"{BENCHMARKS}/train_mima.tsv"
    conda:
        "../../envs/mima.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        runtime=600,
    params:
        settings=mima_params,
        # checkpoints live outside the declared output: Snakemake deletes the
        # outputs of a failed job, and resuming needs them
        checkpoint_dir=f"{RESULTS}/{{dataset}}/mima/.ckpt",
    script:
        "../scripts/train_mima.py"


rule embed_mima:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        model=f"{RESULTS}/{{dataset}}/mima/model",
    output:
        f"{RESULTS}/{{dataset}}/embeddings/mima.h5ad",
    log:
        f"{LOGS}/embed_mima.log",
    benchmark:
        f"{BENCHMARKS}/embed_mima.tsv"
    conda:
        "../../envs/mima.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        seed=lambda w: DATASETS[w.dataset]["mima"]["train"]["seed"],
    script:
        "../scripts/embed_mima.py"


rule mima_outputs:
    input:
        data=f"{RESULTS}/{{dataset}}/prepared.h5mu",
        model=f"{RESULTS}/{{dataset}}/mima/model",
    output:
        f"{RESULTS}/{{dataset}}/mima/outputs.h5mu",
    log:
        f"{LOGS}/mima_outputs.log",
    benchmark:
        f"{BENCHMARKS}/mima_outputs.tsv"
    conda:
        "../../envs/mima.yaml"
    threads: 4
    resources:
        mem_mb=16000,
        runtime=120,
    script:
        "../scripts/mima_outputs.py"
