# Data acquisition: downloads (checksum-verified, atomic) and the raw
# dataset of every source (simulator, user files, downloads, GEO, Zenodo).


rule download_file:
    output:
        f"{DOWNLOADS}/{{dataset}}/{{modality}}.h5ad",
    log:
        f"{LOGS}/download_{{modality}}.log",
    benchmark:
        f"{BENCHMARKS}/download_{{modality}}.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        spec=lambda w: DATASETS[w.dataset]["files"][w.modality],
        mirror=lambda w: data_mirror(w.dataset),
        # a file without md5 / sha256 is verified against the sha256 its first download recorded here
        lock=download_lock_file,
    script:
        "../scripts/download_file.py"


rule download_geo:
    # named after the URL's file, which keys its sha256 in the lock file
    input:
        standin_input,
    output:
        f"{DOWNLOADS}/{{dataset}}/geo/{{filename}}",
    log:
        f"{LOGS}/download_geo_{{filename}}.log",
    benchmark:
        f"{BENCHMARKS}/download_geo_{{filename}}.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        url=lambda w: DATASETS[w.dataset]["url"],
        lock=lambda w: str(REPO / DATASETS[w.dataset].get("lock", "resources/checksums.lock.tsv")),
        mirror=lambda w: data_mirror(w.dataset),
    script:
        "../scripts/download_geo.py"


rule download_zenodo:
    # record.json: the record's own file list (names, sizes, md5s), read first
    input:
        standin_input,
    output:
        record=f"{DOWNLOADS}/{{dataset}}/record.json",
        folder=directory(f"{DOWNLOADS}/{{dataset}}/zenodo"),
    log:
        f"{LOGS}/download_zenodo.log",
    benchmark:
        f"{BENCHMARKS}/download_zenodo.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        record=lambda w: str(DATASETS[w.dataset]["record"]),
        files=lambda w: DATASETS[w.dataset]["files"],
        md5=lambda w: DATASETS[w.dataset].get("md5", {}),
        mirror=lambda w: data_mirror(w.dataset),
    script:
        "../scripts/download_zenodo.py"


rule raw_dataset:
    input:
        unpack(raw_inputs),
    output:
        f"{RESULTS}/{{dataset}}/raw.h5mu",
    log:
        f"{LOGS}/raw_dataset.log",
    benchmark:
        f"{BENCHMARKS}/raw_dataset.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=16000,
        runtime=60,
    params:
        settings=raw_params,
    script:
        "../scripts/raw_dataset.py"
