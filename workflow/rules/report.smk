# Figures, descriptive tables, the policy report and the academic appendix. The report and the appendix
# read published (disclosure-controlled) tables only; figures drawn from row-level data pool small cells.


rule funding_groups:
    """Centres by funding group: the definition in words, counts and quartiles of budget change."""
    input:
        centre_exposure="results/data/centre_exposure.csv",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/funding_groups.csv",
    log:
        "results/logs/funding_groups.log",
    benchmark:
        "results/benchmarks/funding_groups.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        plan=config["exposure"],
        suppress_below=config["disclosure"]["suppress_below"],
    script:
        "../scripts/funding_groups.py"


rule distress_by_wave:
    """Mean outcome score by survey wave and funding group, with cluster-robust intervals."""
    input:
        survey="results/data/clean/survey.parquet",
        centre_exposure="results/data/centre_exposure.csv",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/distress_by_wave.csv",
    log:
        "results/logs/distress_by_wave.log",
    benchmark:
        "results/benchmarks/distress_by_wave.tsv"
    conda:
        "../envs/pipeline.yaml"
    resources:
        mem_mb=scaled(500, 45),
        runtime=scaled(10, 0.1),
    params:
        plan=config["primary_sample"],
        suppress_below=config["disclosure"]["suppress_below"],
    script:
        "../scripts/distress_by_wave.py"


rule published_figures:
    """The figures drawn from published (disclosure-controlled) tables, in one job (each alone spent about a
    second starting Python and matplotlib for a few tenths of drawing); the scenario figure only where the
    plan has planned budget changes (scenarios.planned)."""
    input:
        **(
            {
                "scenarios": "results/tables/scenarios.csv",
                "scenario_curve": "results/data/tables/scenario_curve.csv",
            }
            if PLANNED
            else {}
        ),
        sample_flow="results/tables/sample_flow.csv",
        distress_by_wave="results/tables/distress_by_wave.csv",
        primary=f"results/tables/{PRIMARY}.csv",
        covariate_balance="results/tables/covariate_balance.csv",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        **(
            {
                "scenarios": report(
                    "results/figures/scenarios.png",
                    caption="../report/scenarios.rst",
                    category="Figures",
                )
            }
            if PLANNED
            else {}
        ),
        sample_flow=report(
            "results/figures/sample_flow.png",
            caption="../report/sample_flow.rst",
            category="Figures",
        ),
        distress_by_wave=report(
            "results/figures/distress_by_wave.png",
            caption="../report/distress_by_wave.rst",
            category="Figures",
        ),
        primary_estimates=report(
            "results/figures/primary_estimates.png",
            caption="../report/primary_estimates.rst",
            category="Figures",
        ),
        covariate_balance=report(
            "results/figures/covariate_balance.png",
            caption="../report/covariate_balance.rst",
            category="Figures",
        ),
    log:
        "results/logs/published_figures.log",
    benchmark:
        "results/benchmarks/published_figures.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/published_figures.py"


rule budget_change_figure:
    """Distribution of real-terms budget change by funding group, thresholds marked, small bars pooled."""
    input:
        centre_exposure="results/data/centre_exposure.csv",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        figure=report(
            "results/figures/budget_change.png",
            caption="../report/budget_change.rst",
            category="Figures",
        ),
    log:
        "results/logs/budget_change_figure.log",
    benchmark:
        "results/benchmarks/budget_change_figure.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        plan=config["exposure"],
        suppress_below=config["disclosure"]["suppress_below"],
    script:
        "../scripts/budget_change_figure.py"


# Only where the plan pre-specifies a dose-response curve (model_roles.dose_curve); else the report says so.
if DOSE_CURVE:

    localrules:
        dose_response_figure,

    rule dose_response_figure:
        """The dose_curve model's fitted difference by real-terms budget change, with its band."""
        input:
            diagnostics=f"results/models/{DOSE_CURVE}_fit.json",
            centre_exposure="results/data/centre_exposure.csv",
            source="results/data/data_source.json",
            code=ANALYSIS_CODE,
        output:
            figure=report(
                "results/figures/dose_response.png",
                caption="../report/dose_response.rst",
                category="Figures",
            ),
        log:
            "results/logs/dose_response_figure.log",
        benchmark:
            "results/benchmarks/dose_response_figure.tsv"
        conda:
            "../envs/pipeline.yaml"
        params:
            plan=config["exposure"],
            entry=config["models"][DOSE_CURVE],
        script:
            "../scripts/dose_response_figure.py"


rule forest_figure:
    """Every analysis's estimate of growing vs cut, side by side."""
    input:
        primary=f"results/data/tables/{PRIMARY}.csv",
        models=forest_tables(),
        did="results/data/tables/difference_in_differences.csv",
        imputation="results/data/tables/multiple_imputation.csv",
        weighting="results/data/tables/inverse_probability_weighting.csv",
        source="results/data/data_source.json",
        code=ANALYSIS_CODE,
    output:
        table="results/data/tables/forest.csv",
        figure=report(
            "results/figures/forest.png",
            caption="../report/forest.rst",
            category="Figures",
        ),
    log:
        "results/logs/forest_figure.log",
    benchmark:
        "results/benchmarks/forest_figure.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        forest_models=ROLES["forest"],
    script:
        "../scripts/forest_figure.py"


rule execute_report:
    """Run the report notebook with papermill on this run's published tables and figures."""
    input:
        notebook="workflow/notebooks/report.ipynb",
        tables=published_tables("csv", report_only=True),
        figures=published_figures(report_only=True),
        diagnostics=f"results/models/{PRIMARY}_fit.json",
        source="results/data/data_source.json",
        provenance="results/provenance.json",
        disclosure_check="results/disclosure_check.json",
        code=ANALYSIS_CODE,
    output:
        notebook="results/report/report.ipynb",
    log:
        "results/logs/execute_report.log",
    benchmark:
        "results/benchmarks/execute_report.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        few_clusters=config["few_clusters"],
        primary_model=PRIMARY,
        dose_curve_model=DOSE_CURVE,
        exposure_level=LEVEL,
    script:
        "../scripts/execute_report.py"


rule render_report:
    """The executed report as one self-contained HTML page, code hidden, for policy readers."""
    input:
        notebook="results/report/report.ipynb",
        template="workflow/report/nbconvert/offline/index.html.j2",
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
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/render_report.py"


rule report_pdf:
    """The report printed to PDF by headless Chromium (when the settings say report_pdf: chromium)."""
    input:
        html="results/report/report.html",
    output:
        pdf=report(
            "results/report/report.pdf",
            caption="../report/report_pdf.rst",
            category="Report",
        ),
    log:
        "results/logs/report_pdf.log",
    benchmark:
        "results/benchmarks/report_pdf.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../scripts/report_pdf.py"


rule appendix:
    """The academic appendix: specifications, variables, cleaning log, every table and the configuration."""
    input:
        markdown_tables=published_tables("md"),
        latex_tables=published_tables("tex"),
        contrast_tables=expand("results/tables/{model}.csv", model=model_names()),
        figures=list(appendix_figures().values()),
        provenance="results/provenance.json",
        deviations="results/tables/plan_deviations.csv",
        source="results/data/data_source.json",
        disclosure_check="results/disclosure_check.json",
        code=ANALYSIS_CODE,
    output:
        markdown=report(
            "results/report/appendix.md",
            caption="../report/appendix.rst",
            category="Academic appendix",
            labels={"format": "Markdown"},
        ),
        html=report(
            "results/report/appendix.html",
            caption="../report/appendix.rst",
            category="Academic appendix",
            labels={"format": "HTML"},
        ),
        latex=report(
            "results/report/appendix.tex",
            caption="../report/appendix.rst",
            category="Academic appendix",
            labels={"format": "LaTeX (booktabs)"},
        ),
    log:
        "results/logs/appendix.log",
    benchmark:
        "results/benchmarks/appendix.tsv"
    conda:
        "../envs/pipeline.yaml"
    params:
        config=PLAN,
        disclosure=config["disclosure"],
        figure_captions=list(appendix_figures()),
    script:
        "../scripts/appendix.py"
