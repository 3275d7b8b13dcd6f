# Competitors: one rule per method, each in its own conda env, writing
# results/{dataset}/embeddings/{method}.h5ad; a method that fails writes a
# failure record instead, so every other result is still built.

from mima.methods import registry

for method_name in registry.names():

    rule:
        name:
            f"embed_{method_name}"
        input:
            f"{RESULTS}/{{dataset}}/prepared.h5mu",
        output:
            f"{RESULTS}/{{dataset}}/embeddings/{method_name}.h5ad",
        log:
            f"{LOGS}/embed_{method_name}.log",
        benchmark:
            f"{BENCHMARKS}/embed_{method_name}.tsv"
        conda:
            f"../../envs/{registry.get(method_name).env}.yaml"
        threads: 8
        resources:
            mem_mb=16000,
            runtime=600,
        params:
            method=method_name,
            settings=lambda w, method=method_name: method_settings(w.dataset, method),
        script:
            "../scripts/embed_method.py"


rule runtime_table:
    input:
        embeddings=lambda w: embedding_files(w.dataset),
        benchmarks=lambda w: flat_benchmarks(w.dataset)[1],
    output:
        report(
            f"{RESULTS}/{{dataset}}/tables/runtime.tsv",
            caption="../report/table.rst",
            category="{dataset}",
            subcategory="Tables",
            labels={"dataset": "{dataset}", "table": "runtime"},
        ),
    log:
        f"{LOGS}/runtime_table.log",
    benchmark:
        f"{BENCHMARKS}/runtime_table.tsv"
    conda:
        "../../envs/mima.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        methods=lambda w: ["mima"] + DATASETS[w.dataset]["methods"],
        benchmark_methods=lambda w: flat_benchmarks(w.dataset)[0],
    script:
        "../scripts/runtime_table.py"
