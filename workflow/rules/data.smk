# Data acquisition: downloads (checksum-verified, atomic) and the raw
# dataset of every source (simulator, user files, downloads, GEO, Zenodo).


rule download_file:
    output:
        f"{DOWNLOADS}/{{dataset}}/{{modality}}.h5ad",
    params:
        spec=lambda w: DATASETS[w.dataset]["files"][w.modality],
        mirror=data_mirror(),
    log:
        f"{LOGS}/download_{{modality}}.log",
    benchmark:
        f"{BENCHMARKS}/download_{{modality}}.tsv"
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/mima.yaml"
    script:
        "../scripts/download_file.py"


rule download_geo:
    # named after the URL's file, which keys its sha256 in the lock file
    output:
        f"{DOWNLOADS}/{{dataset}}/geo/{{filename}}",
    params:
        url=lambda w: DATASETS[w.dataset]["url"],
        lock=lambda w: str(REPO / DATASETS[w.dataset].get("lock", "resources/checksums.lock.tsv")),
    log:
        f"{LOGS}/download_geo_{{filename}}.log",
    benchmark:
        f"{BENCHMARKS}/download_geo_{{filename}}.tsv"
    resources:
        mem_mb=1000,
        runtime=240,
    conda:
        "../../envs/mima.yaml"
    script:
        "../scripts/download_geo.py"


rule download_zenodo:
    output:
        directory(f"{DOWNLOADS}/{{dataset}}/zenodo"),
    params:
        record=lambda w: str(DATASETS[w.dataset]["record"]),
        files=lambda w: DATASETS[w.dataset]["files"],
        md5=lambda w: DATASETS[w.dataset].get("md5", {}),
    log:
        f"{LOGS}/download_zenodo.log",
    benchmark:
        f"{BENCHMARKS}/download_zenodo.tsv"
    resources:
        mem_mb=1000,
        runtime=240,
    conda:
        "../../envs/mima.yaml"
    script:
        "../scripts/download_zenodo.py"


rule raw_dataset:
    input:
        unpack(raw_inputs),
    output:
        f"{RESULTS}/{{dataset}}/raw.h5mu",
    params:
        settings=raw_params,
    log:
        f"{LOGS}/raw_dataset.log",
    benchmark:
        f"{BENCHMARKS}/raw_dataset.tsv"
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        "../../envs/mima.yaml"
    script:
        "../scripts/raw_dataset.py"
