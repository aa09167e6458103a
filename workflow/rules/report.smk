rule budget_change_figure:
    """Histogram of each centre's real-terms budget change by funding group, thresholds marked."""
    input:
        centre_exposure="results/data/centre_exposure.csv",
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        figure=report(
            "results/figures/budget_change.png",
            caption="../report/budget_change.rst",
            category="Figures",
        ),
    params:
        plan=config["exposure"],
    log:
        "results/logs/budget_change_figure.log",
    script:
        "../scripts/budget_change_figure.py"


rule primary_estimates_figure:
    """The primary contrasts with their confidence intervals."""
    input:
        contrasts="results/tables/primary.csv",
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        figure=report(
            "results/figures/primary_estimates.png",
            caption="../report/primary_estimates.rst",
            category="Figures",
        ),
    log:
        "results/logs/primary_estimates_figure.log",
    script:
        "../scripts/primary_estimates_figure.py"


rule execute_report:
    """Run the report notebook with papermill on this run's tables and figures."""
    input:
        notebook="workflow/notebooks/report.ipynb",
        contrasts="results/tables/primary.csv",
        diagnostics="results/models/primary_fit.json",
        flow="results/tables/sample_flow.csv",
        cleaning_log="results/tables/cleaning_log.csv",
        centre_exposure="results/data/centre_exposure.csv",
        budget_figure="results/figures/budget_change.png",
        estimates_figure="results/figures/primary_estimates.png",
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        notebook="results/report/report.ipynb",
    log:
        "results/logs/execute_report.log",
    shell:
        "papermill {input.notebook:q} {output.notebook:q} --cwd . "
        "-p contrasts {input.contrasts:q} -p diagnostics {input.diagnostics:q} "
        "-p flow {input.flow:q} -p cleaning_log {input.cleaning_log:q} "
        "-p centre_exposure {input.centre_exposure:q} -p budget_figure {input.budget_figure:q} "
        "-p estimates_figure {input.estimates_figure:q} -p source {input.source:q} "
        "> {log:q} 2>&1"


rule render_report:
    """The executed report as one self-contained HTML page, code hidden, for policy readers."""
    input:
        notebook="results/report/report.ipynb",
    output:
        html=report(
            "results/report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        "results/logs/render_report.log",
    shell:
        "jupyter nbconvert --to html --no-input --embed-images {input.notebook:q} "
        "--output-dir $(dirname {output.html:q}) --output $(basename {output.html:q} .html) "
        "> {log:q} 2>&1"
