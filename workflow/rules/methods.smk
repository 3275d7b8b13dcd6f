# Competitors: one rule per method, each in its own conda env, writing
# results/{dataset}/embeddings/{method}.h5ad; a method that fails writes a
# failure record instead, so every other result is still built.

from mima.methods import METHODS, env_file

for method_name in METHODS:

    rule:
        name:
            f"embed_{method_name}"
        input:
            f"{RESULTS}/{{dataset}}/prepared.h5mu",
        output:
            f"{RESULTS}/{{dataset}}/embeddings/{method_name}.h5ad",
        params:
            method=method_name,
            settings=lambda w, method=method_name: method_settings(w.dataset, method),
        log:
            f"{LOGS}/embed_{method_name}.log",
        benchmark:
            f"{BENCHMARKS}/embed_{method_name}.tsv"
        threads: 2
        resources:
            mem_mb=16000,
            runtime=600,
        conda:
            f"../../envs/{env_file(method_name)}.yaml"
        script:
            "../scripts/embed_method.py"


rule runtime_table:
    input:
        embeddings=lambda w: embedding_files(w.dataset),
        benchmarks=lambda w: method_benchmarks(w.dataset),
    output:
        report(f"{RESULTS}/{{dataset}}/tables/runtime.tsv", caption="../report/table.rst", category="{dataset}", subcategory="Tables", labels={"dataset": "{dataset}", "table": "runtime"}),
    params:
        methods=lambda w: ["mima"] + DATASETS[w.dataset]["methods"],
    log:
        f"{LOGS}/runtime_table.log",
    benchmark:
        f"{BENCHMARKS}/runtime_table.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/mima.yaml"
    script:
        "../scripts/runtime_table.py"
