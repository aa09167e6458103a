rule specification:
    """The specifications sharing one analysis sample (score, threshold, window): its exposure and sample built
    once from the cleaned data, then each specification's model fitted to it once, for the curve and for the
    joint test's refits."""
    input:
        centres="results/data/clean/centres.parquet",
        funding="results/data/clean/funding.parquet",
        deflators="results/data/clean/deflators.parquet",
        survey="results/data/clean/survey.parquet",
        code=ANALYSIS_CODE,
    output:
        tables=specification_sample_outputs(),
        refitters="results/data/specifications/refitters_{score}-t{threshold}-{window}.pickle",
    log:
        "results/logs/specification_{score}-t{threshold}-{window}.log",
    benchmark:
        "results/benchmarks/specification_{score}-t{threshold}-{window}.tsv"
    wildcard_constraints:
        **specification_sample_constraints(),
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 45),
        runtime=scaled(10, 0.5),
    params:
        plan=specification_job,
        choices=specification_group,
    script:
        "../scripts/specification.py"


rule specification_curve:
    """Every specification's contrasts in one table, and the curve as a figure."""
    input:
        specs=specification_outputs(),
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
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
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/specification_curve.py"


rule specification_joint_test:
    """Joint test of the specification curve: every specification refitted to null resamples of LAs, from the
    per-LA statistics its specification job kept."""
    input:
        refitters=specification_refitter_outputs(),
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/specification_joint_test.csv",
    log:
        "results/logs/specification_joint_test.log",
    benchmark:
        "results/benchmarks/specification_joint_test.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        plan={"specification_curve": config["specification_curve"]},
    script:
        "../scripts/specification_joint_test.py"
