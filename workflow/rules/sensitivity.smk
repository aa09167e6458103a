rule secondary_family:
    """Secondary outcomes' contrasts with Holm-adjusted p-values across the family."""
    input:
        tables=secondary_tables(),
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/secondary_family.csv",
    log:
        "results/logs/secondary_family.log",
    benchmark:
        "results/benchmarks/secondary_family.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/secondary_family.py"


rule effect_size:
    """Hedges' g and E-value of the named model's group contrasts."""
    input:
        contrasts=f"results/data/tables/{config['effect_size']['model']}.csv",
        analysis="results/data/analysis.parquet",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/effect_size.csv",
    log:
        "results/logs/effect_size.log",
    benchmark:
        "results/benchmarks/effect_size.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 150),
        runtime=scaled(10, 0.5),
    params:
        name=config["effect_size"]["model"],
        entry=model_entry_named("effect_size"),
        standardiser=config["effect_size"]["standardiser"],
    script:
        "../scripts/effect_size.py"


rule leave_one_la_out:
    """The named model refitted without each local authority in turn."""
    input:
        analysis="results/data/analysis.parquet",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/leave_one_la_out.csv",
    log:
        "results/logs/leave_one_la_out.log",
    benchmark:
        "results/benchmarks/leave_one_la_out.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 150),
        runtime=scaled(10, 2),
    params:
        name=config["leave_one_la_out"]["model"],
        entry=model_entry_named("leave_one_la_out"),
        fit_settings=config["mixed_model_fit"],
    script:
        "../scripts/leave_one_la_out.py"


rule difference_in_differences:
    """All waves, mother fixed effects: group x wave interactions, clustered by local authority."""
    input:
        survey="results/data/clean/survey.parquet",
        centre_exposure="results/data/centre_exposure.csv",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/difference_in_differences.csv",
        flow="results/data/tables/difference_in_differences_flow.csv",
    log:
        "results/logs/difference_in_differences.log",
    benchmark:
        "results/benchmarks/difference_in_differences.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 45),
        runtime=scaled(10, 0.2),
    params:
        plan=config["difference_in_differences"],
        baseline_wave=config["primary_sample"]["baseline_wave"],
    script:
        "../scripts/difference_in_differences.py"


rule attrition_analyses:
    """Multiple imputation (Rubin's rules) and inverse-probability-of-response weighting."""
    input:
        survey="results/data/clean/survey.parquet",
        centre_exposure="results/data/centre_exposure.csv",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        imputation="results/data/tables/multiple_imputation.csv",
        weighting="results/data/tables/inverse_probability_weighting.csv",
    log:
        "results/logs/attrition_analyses.log",
    benchmark:
        "results/benchmarks/attrition_analyses.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(1000, 45),
        runtime=scaled(10, 0.2),
    params:
        plan=attrition_plan(config),
    script:
        "../scripts/attrition_analyses.py"
