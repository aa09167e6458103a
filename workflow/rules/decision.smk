# Decision support: what the plan's scenarios (planned budget changes) would mean, the one-page brief for
# councillors, and the power planner for a council's own evaluation.


rule scenarios:
    """Each planned budget change in real terms, projected by the dose-response models, marked where it lies
    outside the range observed in the data."""
    input:
        analysis="results/data/analysis.parquet",
        deflators="results/data/clean/deflators.parquet",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/scenarios.csv",
        curve="results/data/tables/scenario_curve.csv",
    log:
        "results/logs/scenarios.log",
    benchmark:
        "results/benchmarks/scenarios.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 150),
        runtime=scaled(10, 2),
    params:
        plan=scenario_plan(),
    script:
        "../scripts/scenarios.py"


rule brief:
    """The one-page brief for councillors, from the published scenario table and figure; refused if it
    would break the disclosure rule."""
    input:
        tables=["results/tables/scenarios.csv"],
        figure="results/figures/scenarios.png",
        source="results/data/data_source.json",
        provenance="results/provenance.json",
        code=ANALYSIS_CODE,
    output:
        html=report(
            "results/report/brief.html",
            caption="../report/brief.rst",
            category="Report",
        ),
    log:
        "results/logs/brief.log",
    benchmark:
        "results/benchmarks/brief.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        disclosure=config["disclosure"],
    script:
        "../scripts/brief.py"


rule brief_pdf:
    """The brief printed to one A4 page by headless Chromium (when the settings say report_pdf: chromium)."""
    input:
        html="results/report/brief.html",
    output:
        pdf=report(
            "results/report/brief.pdf",
            caption="../report/brief.rst",
            category="Report",
        ),
    log:
        "results/logs/brief_pdf.log",
    benchmark:
        "results/benchmarks/brief_pdf.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/report_pdf.py"


rule power_planner:
    """Minimum detectable effect and power of the plan's evaluation designs, with the MDE by number of
    centres; variance components from the fitted primary model unless the plan gives them."""
    input:
        diagnostics=f"results/models/{PRIMARY}_fit.json",
        analysis="results/data/analysis.parquet",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/power_planner.csv",
        curve="results/data/tables/power_curve.csv",
        figure=report(
            "results/figures/power_planner.png",
            caption="../report/power_planner.rst",
            category="Figures",
        ),
    log:
        "results/logs/power_planner.log",
    benchmark:
        "results/benchmarks/power_planner.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        plan={"power_planner": config["power_planner"]},
        standardiser=config["effect_size"]["standardiser"],
    script:
        "../scripts/power_planner.py"
