rule publish_tables:
    """Apply the disclosure rule to every exact table; publish each as CSV, Markdown and LaTeX with its notes.
    One job for all: a table takes milliseconds to publish, a job of its own about a second to start."""
    input:
        tables=exact_tables(),
        source="results/data/data_source.json",
        provenance="results/provenance.json",
        code=ANALYSIS_CODE,
    output:
        csv=published_table_files("csv", "CSV"),
        markdown=published_table_files("md", "Markdown"),
        latex=published_table_files("tex", "LaTeX (booktabs)"),
    log:
        "results/logs/publish_tables.log",
    benchmark:
        "results/benchmarks/publish_tables.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        titles=TABLE_TITLES,
        disclosure=config["disclosure"],
    script:
        "../scripts/publish_tables.py"


rule disclosure_check:
    """Fail the run if any published table breaks the disclosure rule (and withdraw that table)."""
    input:
        tables=published_tables("csv"),
        code=ANALYSIS_CODE,
    output:
        check=report(
            "results/disclosure_check.json",
            caption="../report/disclosure_check.rst",
            category="Provenance and disclosure",
        ),
    log:
        "results/logs/disclosure_check.log",
    benchmark:
        "results/benchmarks/disclosure_check.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        disclosure=config["disclosure"],
    script:
        "../scripts/disclosure_check.py"


rule provenance:
    """Hashes of the raw inputs, configuration, code and package versions: the provenance every output cites."""
    input:
        unpack(raw_inputs),
        # Only for inputs that passed validation: a failed run leaves no provenance behind.
        **plan_lock(),
        validated="results/data/data_source.json",
        plan="results/data/analysis_plan.json",
        code=provenance_code(),
    output:
        record=report(
            "results/provenance.json",
            caption="../report/provenance.rst",
            category="Provenance and disclosure",
        ),
    log:
        "results/logs/provenance.log",
    benchmark:
        "results/benchmarks/provenance.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        # Parameters, so that a change of configuration or of an installed package reruns this rule.
        config=PLAN,
        packages=package_versions(),
    script:
        "../scripts/provenance.py"


rule analysis_plan:
    """This run's analysis plan: the validated configuration without where and how the data are read."""
    output:
        plan="results/data/analysis_plan.json",
    log:
        "results/logs/analysis_plan.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        plan=ANALYSIS_PLAN,
    script:
        "../scripts/analysis_plan.py"


rule plan_deviations:
    """Every setting in which this run's plan differs from the frozen plan (config/plan.lock)."""
    input:
        **plan_lock(),
        plan="results/data/analysis_plan.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/plan_deviations.csv",
    log:
        "results/logs/plan_deviations.log",
    benchmark:
        "results/benchmarks/plan_deviations.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/plan_deviations.py"


rule manifest:
    """The run's manifest: provenance, git state, seeds, start and end times and a hash of each deliverable."""
    input:
        provenance="results/provenance.json",
        deliverables=deliverables(),
    output:
        manifest=report(
            "results/manifest.json",
            caption="../report/manifest.rst",
            category="Provenance and disclosure",
        ),
    log:
        "results/logs/manifest.log",
    benchmark:
        "results/benchmarks/manifest.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        config=PLAN,
        started=RUN_STARTED,
    script:
        "../scripts/manifest.py"


rule covariate_balance:
    """Table 1 by funding group, standardised mean differences before and after weighting, missing patterns."""
    input:
        survey="results/data/clean/survey.parquet",
        centre_exposure="results/data/centre_exposure.csv",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        characteristics="results/data/tables/baseline_characteristics.csv",
        balance="results/data/tables/covariate_balance.csv",
        patterns="results/data/tables/missing_patterns.csv",
    log:
        "results/logs/covariate_balance.log",
    benchmark:
        "results/benchmarks/covariate_balance.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 45),
        runtime=scaled(10, 0.2),
    params:
        **balance_weighting(),
        sample_plan=config["primary_sample"],
        name=config["covariate_balance"]["model"],
        entry=model_entry_named("covariate_balance"),
        smd_guide=config["covariate_balance"]["smd_guide"],
        suppress_below=config["disclosure"]["suppress_below"],
    script:
        "../scripts/covariate_balance.py"
