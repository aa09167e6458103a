rule analysis_code:
    """Fingerprint the analysis code (each file's SHA-256) for the rules that run it."""
    input:
        files=analysis_code_files(),
    output:
        fingerprint=ANALYSIS_CODE,
    log:
        "results/logs/analysis_code.log",
    # The data path first: of the jobs ready together, the fingerprint, the imports and the cleaning start
    # before the records that read only the configuration (on one core a run that fails on the raw data
    # stops before making them).
    priority: 1
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/analysis_code.py"


rule import_source:
    """Read one input as published, in the format its sources entry names, and write the contract file that
    the cleaning then checks like any other (analysis/importers, data/import/README.md)."""
    input:
        published=lambda wildcards: published_files(wildcards.source),
        code=ANALYSIS_CODE,
    output:
        contract=str(IMPORTED_DIR / "{source}.csv"),
        import_log=str(IMPORTED_DIR / "{source}_import_log.csv"),
        provenance=str(IMPORTED_DIR / "{source}_provenance.json"),
    log:
        "results/logs/import_{source}.log",
    benchmark:
        "results/benchmarks/import_{source}.tsv"
    wildcard_constraints:
        source="|".join(SOURCES),
    priority: 1
    conda:
        "../envs/pipeline.yaml"
    params:
        entry=lambda wildcards: source_entry(config, wildcards.source),
        contract_name=lambda wildcards: contract_file(wildcards.source, LEVEL),
        raw_dir=config["raw_dir"],
    script:
        "../scripts/import_source.py"


rule clean_raw_data:
    """Validate the raw files against the contract, clean them and score the questionnaires."""
    input:
        unpack(clean_inputs),
        code=ANALYSIS_CODE,
    output:
        centres="results/data/clean/centres.parquet",
        funding="results/data/clean/funding.parquet",
        deflators="results/data/clean/deflators.parquet",
        survey="results/data/clean/survey.parquet",
        cleaning_log="results/data/tables/cleaning_log.csv",
        source="results/data/data_source.json",
    log:
        "results/logs/clean_raw_data.log",
    benchmark:
        "results/benchmarks/clean_raw_data.tsv"
    priority: 1
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 15),
        runtime=scaled(10, 0.1),
    params:
        raw_dir=config["raw_dir"],
        level=LEVEL,
        contract_files=contract_paths(),
        imported_from=imported_from(),
    script:
        "../scripts/clean_raw_data.py"
