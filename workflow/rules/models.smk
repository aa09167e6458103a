rule fit_model:
    """Fit one pre-specified model from the plan; write its contrasts, coefficients and fit checks."""
    input:
        analysis="results/data/analysis.parquet",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        contrasts="results/data/tables/{model}.csv",
        coefficients="results/data/tables/{model}_coefficients.csv",
        diagnostics="results/models/{model}_fit.json",
    log:
        "results/logs/fit_model_{model}.log",
    benchmark:
        "results/benchmarks/fit_model_{model}.tsv"
    wildcard_constraints:
        model="|".join(model_names()),
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 150),
        runtime=scaled(10, 1),
    params:
        entry=model_entry,
        fit_settings=model_fit_settings,
    script:
        "../scripts/fit_model.py"
