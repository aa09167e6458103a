rule build_primary_sample:
    """One row per mother in the primary sample, and the count of mothers at each inclusion step."""
    input:
        survey="results/data/clean/survey.parquet",
        centre_exposure="results/data/centre_exposure.csv",
        code=ANALYSIS_CODE,
    output:
        analysis="results/data/analysis.parquet",
        flow="results/data/tables/sample_flow.csv",
    log:
        "results/logs/build_primary_sample.log",
    benchmark:
        "results/benchmarks/build_primary_sample.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 45),
        runtime=scaled(10, 0.1),
    params:
        plan=config["primary_sample"],
        covariates=sample_covariates(config),
    script:
        "../scripts/build_primary_sample.py"
