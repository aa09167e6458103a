"""Publishing (workflow/rules/tables.smk): tables disclosure-controlled and published, the disclosure check,
the plan's deviations from the frozen plan, provenance and the run's manifest (the plan itself:
analysis/stages/records.py).

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from analysis import io
from analysis.data_source import is_synthetic
from analysis.disclosure import (
    DisclosureError,
    DisclosureRule,
    check_tables,
    protect_table,
    published_renderings,
    violations,
)
from analysis.plan_lock import deviations, lock_record, read_lock
from analysis.provenance import manifest as run_manifest
from analysis.provenance import provenance_record, short_hash, utc_now
from analysis.results import to_latex, to_markdown

log = logging.getLogger(__name__)


def publish_tables(tables: list[str], titles: dict[str, str], source: str, provenance: str, disclosure: dict,
                   csv: list[str], markdown: list[str], latex: list[str]) -> None:
    """Disclosure-control each exact table in `tables` and publish it as CSV, Markdown and LaTeX, titled by
    its name in `titles` and citing the run's provenance; csv, markdown and latex name each one's published
    files, in the same order (each file named after its table)."""
    jobs = list(zip(tables, csv, markdown, latex, strict=True))
    for table, *published in jobs:  # all checked before any is written
        if {Path(path).stem for path in published} != {Path(table).stem}:
            raise ValueError(f"the published files {published} do not match the table {table}")
    rule = DisclosureRule.from_config(disclosure)
    synthetic = is_synthetic(source)
    footer = [rule.describe(), f"Provenance {short_hash(io.read_json(provenance))}: hash of the raw inputs, "
              "configuration, code and package versions (results/manifest.json)."]
    for table, csv_path, markdown_path, latex_path in jobs:
        frame = protect_table(pd.read_csv(table), rule)
        problems = violations(frame, rule, Path(csv_path).name)
        if problems:  # protect_table should have made every count safe; refuse rather than publish
            raise DisclosureError(problems)
        title = titles[Path(table).stem]
        io.write_csv(frame, csv_path)
        io.write_text(to_markdown(frame, title, synthetic, footer), markdown_path)
        io.write_text(to_latex(frame, title, synthetic, footer), latex_path)
    log.info("published %d tables", len(tables))


def disclosure_check(tables: list[str], disclosure: dict, output: str) -> None:
    """Fail the run if any published table breaks the disclosure rule; withdraw the tables that do."""
    rule = DisclosureRule.from_config(disclosure)
    try:
        check_tables(tables, rule)
    except DisclosureError as err:
        for name in sorted({p.file for p in err.problems}):
            for stale in published_renderings(name, tables):
                stale.unlink(missing_ok=True)
                log.error("withdrew %s: it breaks the disclosure rule", stale)
        raise
    io.write_json({"rule": rule.describe(), "suppress_below": rule.suppress_below,
                   "round_to": rule.round_to, "tables_checked": sorted(Path(t).name for t in tables),
                   "passed": True}, output)


def _lock(lock: str | None) -> dict | None:
    return read_lock(lock) if lock else None


def provenance(raw: dict, config: dict, plan: str, lock: str | None, output: str) -> None:
    """The provenance record; an imported source's record (format, files, release and vintage) goes in it
    under `imports`, and the frozen plan's lock (its hash, the version in force) under `plan_lock`, so both
    enter its hash."""
    imports = {label.removeprefix("import_"): io.read_json(path) for label, path in raw.items()
               if label.startswith("import_")}
    files = {label: path for label, path in raw.items() if not label.startswith("import_")}
    plan_lock = lock_record(lock, _lock(lock), io.read_json(plan))
    io.write_json(provenance_record(files, config, Path.cwd(), imports, plan_lock), output)


def plan_deviations(plan: str, lock: str | None, output: str) -> None:
    """Each setting of this run's plan that differs from the frozen plan (none without a lock)."""
    io.write_csv(deviations(io.read_json(plan), _lock(lock)), output)


def manifest(provenance_file: str, outputs: list[str], config: dict, started_file: str, output: str) -> None:
    """The run's manifest: provenance plus git state, seeds, output hashes and start and end times."""
    started = Path(started_file).read_text().strip() if Path(started_file).is_file() else "unknown"
    record = run_manifest(io.read_json(provenance_file), config, Path.cwd(), started, utc_now(), outputs)
    io.write_json(record, output)
