rule render_table:
    """Markdown and booktabs LaTeX renderings of a tidy result table, with its notes."""
    input:
        table="results/tables/{table}.csv",
        source="results/data/data_source.json",
        code=analysis_code(),
    output:
        markdown="results/tables/{table}.md",
        latex="results/tables/{table}.tex",
    wildcard_constraints:
        table="|".join(TABLE_TITLES),
    params:
        title=table_title,
    log:
        "results/logs/render_table_{table}.log",
    benchmark:
        "results/benchmarks/render_table_{table}.tsv"
    script:
        "../scripts/render_table.py"
