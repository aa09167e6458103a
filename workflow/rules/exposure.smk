rule classify_centres:
    """Real-terms budget change of each centre over the exposure window, and its funding group."""
    input:
        centres="results/data/clean/centres.parquet",
        funding="results/data/clean/funding.parquet",
        deflators="results/data/clean/deflators.parquet",
        code=ANALYSIS_CODE,
    output:
        centre_exposure="results/data/centre_exposure.csv",
    log:
        "results/logs/classify_centres.log",
    benchmark:
        "results/benchmarks/classify_centres.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        plan=config["exposure"],
    script:
        "../scripts/classify_centres.py"
