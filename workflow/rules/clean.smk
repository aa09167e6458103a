rule clean_raw_data:
    """Validate the four raw files against the contract, clean them and score the questionnaires."""
    input:
        unpack(raw_inputs),
        code=analysis_code(),
    output:
        centres="results/data/clean/centres.parquet",
        funding="results/data/clean/centre_funding.parquet",
        deflators="results/data/clean/deflators.parquet",
        survey="results/data/clean/survey.parquet",
        cleaning_log="results/data/tables/cleaning_log.csv",
        source="results/data/data_source.json",
    params:
        raw_dir=config["raw_dir"],
    resources:
        mem_mb=scaled(500, 15),
        runtime=scaled(10, 0.1),
    log:
        "results/logs/clean_raw_data.log",
    benchmark:
        "results/benchmarks/clean_raw_data.tsv"
    script:
        "../scripts/clean_raw_data.py"
