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
    benchmark:
        "results/benchmarks/budget_change_figure.tsv"
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
    benchmark:
        "results/benchmarks/primary_estimates_figure.tsv"
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
        forest="results/tables/forest.csv",
        forest_figure="results/figures/forest.png",
        specification_curve="results/tables/specification_curve.csv",
        specification_figure="results/figures/specification_curve.png",
        dose_figure="results/figures/dose_response.png",
        effect_size="results/tables/effect_size.csv",
        secondary="results/tables/secondary_family.csv",
        leave_one_out="results/tables/leave_one_la_out.csv",
        code=analysis_code(),
    output:
        notebook="results/report/report.ipynb",
    log:
        "results/logs/execute_report.log",
    benchmark:
        "results/benchmarks/execute_report.tsv"
    shell:
        "PATH={ENV_BIN:q}:\"$PATH\" papermill {input.notebook:q} {output.notebook:q} --cwd . "
        "-p contrasts {input.contrasts:q} -p diagnostics {input.diagnostics:q} "
        "-p flow {input.flow:q} -p cleaning_log {input.cleaning_log:q} "
        "-p centre_exposure {input.centre_exposure:q} -p budget_figure {input.budget_figure:q} "
        "-p estimates_figure {input.estimates_figure:q} -p source {input.source:q} "
        "-p forest {input.forest:q} -p forest_figure {input.forest_figure:q} "
        "-p specification_curve {input.specification_curve:q} "
        "-p specification_figure {input.specification_figure:q} -p dose_figure {input.dose_figure:q} "
        "-p effect_size {input.effect_size:q} -p secondary {input.secondary:q} "
        "-p leave_one_out {input.leave_one_out:q} "
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
    benchmark:
        "results/benchmarks/render_report.tsv"
    shell:
        "PATH={ENV_BIN:q}:\"$PATH\" jupyter nbconvert --to html --no-input --embed-images {input.notebook:q} "
        "--output-dir $(dirname {output.html:q}) --output $(basename {output.html:q} .html) "
        "> {log:q} 2>&1"


rule dose_response_figure:
    """The spline model's fitted difference by real-terms budget change, with its band."""
    input:
        diagnostics="results/models/dose_spline_fit.json",
        centre_exposure="results/data/centre_exposure.csv",
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        figure=report(
            "results/figures/dose_response.png",
            caption="../report/dose_response.rst",
            category="Figures",
        ),
    params:
        plan=config["exposure"],
        entry=config["models"]["dose_spline"],
    log:
        "results/logs/dose_response_figure.log",
    benchmark:
        "results/benchmarks/dose_response_figure.tsv"
    script:
        "../scripts/dose_response_figure.py"


rule forest_figure:
    """Every analysis's estimate of growing vs cut, side by side."""
    input:
        primary="results/tables/primary.csv",
        ols_cr2="results/tables/primary_ols_cr2.csv",
        did="results/tables/difference_in_differences.csv",
        imputation="results/tables/multiple_imputation.csv",
        weighting="results/tables/inverse_probability_weighting.csv",
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        table="results/tables/forest.csv",
        figure=report(
            "results/figures/forest.png",
            caption="../report/forest.rst",
            category="Figures",
        ),
    log:
        "results/logs/forest_figure.log",
    benchmark:
        "results/benchmarks/forest_figure.tsv"
    script:
        "../scripts/forest_figure.py"
