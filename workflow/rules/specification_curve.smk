rule specification:
    """One specification of the curve: its own exposure, sample and model, from the cleaned data."""
    input:
        centres="results/data/clean/centres.parquet",
        funding="results/data/clean/funding.parquet",
        deflators="results/data/clean/deflators.parquet",
        survey="results/data/clean/survey.parquet",
        code=analysis_code(),
    output:
        table="results/data/specifications/{spec}.csv",
    wildcard_constraints:
        spec="|".join(sorted(SPECIFICATIONS)),
    params:
        plan=specification_job,
        choice=specification_choice,
    resources:
        mem_mb=scaled(500, 45),
        runtime=scaled(10, 0.2),
    log:
        "results/logs/specification_{spec}.log",
    benchmark:
        "results/benchmarks/specification_{spec}.tsv"
    script:
        "../scripts/specification.py"


rule specification_curve:
    """Every specification's contrasts in one table, and the curve as a figure."""
    input:
        specs=specification_outputs(),
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        table="results/data/tables/specification_curve.csv",
        figure=report(
            "results/figures/specification_curve.png",
            caption="../report/specification_curve.rst",
            category="Figures",
        ),
    log:
        "results/logs/specification_curve.log",
    benchmark:
        "results/benchmarks/specification_curve.tsv"
    script:
        "../scripts/specification_curve.py"


rule specification_joint_test:
    """Joint test of the specification curve: every specification refitted to null resamples of LAs."""
    input:
        centres="results/data/clean/centres.parquet",
        funding="results/data/clean/funding.parquet",
        deflators="results/data/clean/deflators.parquet",
        survey="results/data/clean/survey.parquet",
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        table="results/data/tables/specification_joint_test.csv",
    params:
        plan=joint_test_plan(config),
    resources:
        mem_mb=scaled(1000, 45),
        runtime=scaled(30, 2),
    log:
        "results/logs/specification_joint_test.log",
    benchmark:
        "results/benchmarks/specification_joint_test.tsv"
    script:
        "../scripts/specification_joint_test.py"
