"""Cleaning (workflow/rules/clean.smk): each source imported as published, then the contract files validated
and cleaned.

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pandas as pd

from analysis import io
from analysis.cleaning import clean_all
from analysis.data_source import data_source
from analysis.errors import RawDataError
from analysis.importers.sources import read_source, write_imported

log = logging.getLogger(__name__)


def import_source(source: str, entry: dict, contract_name: str, raw_dir: str, contract: str, import_log: str,
                  provenance: str) -> None:
    """Read one source as published and write its contract file, counted rules and provenance."""
    imported = read_source(source, entry, Path(raw_dir))
    write_imported(imported, contract_name, contract, import_log, provenance, source, entry)


def clean_raw_data(raw_dir: str, level: str, contract_files: dict, import_logs: list[str], centres: str,
                   funding: str, deflators: str, survey: str, cleaning_log: str, source: str,
                   imported_from: dict | None = None) -> None:
    """Clean the contract files of this exposure level: each in raw_dir, or where `contract_files` (contract
    file name -> path) says an importer wrote it. The cleaning log starts with the importers' counted
    rules. A contract problem in an imported file names the files it was imported from (`imported_from`:
    contract file name -> published file names), since those are the files a data manager has."""
    try:
        data = clean_all(Path(raw_dir), level, {name: Path(path) for name, path in contract_files.items()})
    except RawDataError as err:
        sources = imported_from or {}
        raise RawDataError([replace(p, file=f"{p.file} (imported from {', '.join(sources[p.file])})")
                            if p.file in sources else p for p in err.problems]) from None
    io.write_parquet(data.centres, centres)
    io.write_parquet(data.funding, funding)
    io.write_parquet(data.deflators, deflators)
    io.write_parquet(data.survey, survey)
    imports = [pd.read_csv(path, dtype={"column": str}, keep_default_na=False) for path in import_logs]
    io.write_csv(pd.concat([*imports, data.log.to_frame()], ignore_index=True), cleaning_log)
    io.write_json(data_source(Path(raw_dir)), source)
