"""The plan's `sources:` block: where each input comes from, in which format, and what the import stage
writes.

Each source (centres, funding, deflators, survey) has a `format`. `contract` (the default) is the contract CSV
in raw_dir, read by the cleaning as it is. Any other format names an importer (analysis.importers), which
reads the files as published (paths relative to raw_dir) and writes the contract file under IMPORTED_DIR;
the cleaning then checks that file like any other. Nothing is guessed: an importer refuses what it cannot
read by its documented rule (data/import/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import io
from analysis.cleaning import CleaningLog
from analysis.contract import CENTRE_FUNDING, CENTRES, DEFLATORS, LA_FUNDING, MONEY_COLUMNS, SURVEY
from analysis.errors import PlanError, Problem, RawDataError
from analysis.importers import Imported
from analysis.importers.deflators import VINTAGE

# Where the import stage writes the contract files it makes (restricted: row-level data).
IMPORTED_DIR = Path("results/data/imported")

SOURCES = ("centres", "funding", "deflators", "survey")
# The formats each source may be read in (beside `contract`), and the exposure levels a format serves.
FORMATS = {
    "centres": ("gias",),
    "funding": ("dfe_s251",),
    "deflators": ("hmt_gdp_deflators",),
    "survey": ("mapped",),
}
LA_ONLY_FORMATS = {"dfe_s251"}  # local-authority spend: no centre budgets
# The settings each format takes beside its files (config/schema/config.schema.yaml describes each).
OPTIONS = {
    "contract": (),
    "gias": ("include_linked_sites", "open_during", "idaci_path"),
    "dfe_s251": ("line", "measure", "years", "geography"),
    "hmt_gdp_deflators": ("vintage", "base_year"),
    "mapped": ("mapping",),
}
REQUIRED_OPTIONS = {"mapped": ("mapping",)}


def contract_file(source: str, level: str) -> str:
    """The contract file a source fills at this exposure level."""
    if source == "funding":
        return (LA_FUNDING if level == "la" else CENTRE_FUNDING).name
    return {"centres": CENTRES, "deflators": DEFLATORS, "survey": SURVEY}[source].name


def source_entry(config: dict, source: str) -> dict:
    return {"format": "contract", **(config.get("sources") or {}).get(source, {})}


def imported_sources(config: dict) -> list[str]:
    """The sources read by an importer (not in the contract format)."""
    return [s for s in SOURCES if source_entry(config, s)["format"] != "contract"]


def source_paths(entry: dict) -> list[str]:
    """The published files a source entry names (one `path` or a list of `paths`), relative to raw_dir."""
    paths = entry.get("paths") or ([entry["path"]] if entry.get("path") else [])
    return [str(p) for p in paths]


def named_files(entry: dict) -> list[str]:
    """Every file in raw_dir an entry names: its data files, an IoD file, and a user's mapping file."""
    mapping = entry.get("mapping")
    return [*source_paths(entry), *([entry["idaci_path"]] if entry.get("idaci_path") else []),
            *([mapping] if mapping and not _shipped(mapping) else [])]


def check_sources(config: dict) -> None:
    """Plan problems no schema can see: a format at the wrong exposure level, a source without files."""
    level = config["exposure"].get("level", "centre")
    problems = []
    for source in SOURCES:
        entry = source_entry(config, source)
        foreign = sorted(set(entry) - {"format", "path", "paths", *OPTIONS.get(entry["format"], ())})
        if foreign:
            problems.append(f"sources.{source}: {', '.join(foreign)} is not a setting of format "
                            f"'{entry['format']}'")
        if entry["format"] == "contract":
            if source_paths(entry):
                problems.append(f"sources.{source}: format contract reads {contract_file(source, level)} in "
                                "raw_dir; `path` and `paths` name files as published, for the other formats")
            continue
        for key in REQUIRED_OPTIONS.get(entry["format"], ()):
            if not entry.get(key):
                problems.append(f"sources.{source}: format '{entry['format']}' needs `{key}`")
        if entry["format"] not in FORMATS[source]:
            problems.append(f"sources.{source}.format '{entry['format']}' is not a format of {source} "
                            f"(formats: contract, {', '.join(FORMATS[source])})")
        if entry["format"] in LA_ONLY_FORMATS and level != "la":
            problems.append(f"sources.{source}.format '{entry['format']}' gives local-authority spend, not "
                            "centre budgets: set exposure.level to la")
        problems += _file_problems(source, entry)
    if problems:
        raise PlanError("The plan's sources block is inconsistent:\n  - " + "\n  - ".join(problems))


SINGLE_FILE_FORMATS = {"gias", "hmt_gdp_deflators"}


def _file_problems(source: str, entry: dict) -> list[str]:
    """The files an entry names: given once, as many as its format reads, each a name inside raw_dir (so the
    secure folder is named once, in raw_dir), and its settings readable."""
    problems = []
    files = source_paths(entry)
    if entry.get("path") and entry.get("paths"):
        problems.append(f"sources.{source}: give `path` or `paths`, not both")
    if not files:
        problems.append(f"sources.{source} names no file: give `path` (or `paths`), relative to raw_dir")
    if entry["format"] in SINGLE_FILE_FORMATS and len(files) > 1:
        problems.append(f"sources.{source}: format {entry['format']} reads one file, not {len(files)}")
    for path in named_files(entry):
        if Path(path).is_absolute() or ".." in Path(path).parts:
            problems.append(f"sources.{source}: '{path}' must be a file name inside raw_dir")
    window = entry.get("open_during")
    if window and len(window) == 2 and window[0] > window[1]:
        problems.append(f"sources.{source}.open_during: {window[0]} is after {window[1]}")
    if entry.get("vintage") and not VINTAGE.fullmatch(str(entry["vintage"]).strip()):
        problems.append(f"sources.{source}.vintage: '{entry['vintage']}' is not a release month written like "
                        "March 2024")
    return problems


def _shipped(mapping: str) -> bool:
    """A shipped mapping is named bare (mcs_parent_interview); a user's is a YAML file in raw_dir."""
    return "/" not in mapping and not mapping.endswith((".yaml", ".yml"))


def read_source(source: str, entry: dict, raw_dir: Path) -> Imported:
    """Run the importer a source entry names on its files in raw_dir."""
    files = [Path(raw_dir) / p for p in source_paths(entry)]
    missing = [Problem(Path(name).name, None, "not found in the raw-data folder (raw_dir)")
               for name in named_files(entry) if not (Path(raw_dir) / name).is_file()]
    if missing:
        raise RawDataError(missing)
    fmt = entry["format"]
    if fmt == "gias":
        from analysis.importers.gias import read_gias
        from analysis.importers.s251 import load_la_codes
        options = _options(entry, raw_dir, paths=("idaci_path",))
        if options.get("open_during"):
            options["open_during"] = tuple(options["open_during"])
        return read_gias(files[0], la_lookup=load_la_codes(), **options)
    if fmt == "dfe_s251":
        from analysis.importers.s251 import read_s251
        return read_s251(files, **_options(entry, raw_dir))
    if fmt == "hmt_gdp_deflators":
        from analysis.importers.deflators import read_hmt_deflators
        return read_hmt_deflators(files[0], **_options(entry, raw_dir))
    if fmt == "mapped":
        from analysis.importers.survey import load_mapping, read_mapped_survey
        mapping = entry["mapping"]
        shipped_or_file = mapping if _shipped(mapping) else Path(raw_dir) / mapping
        return read_mapped_survey(load_mapping(shipped_or_file), files, mapping_name=Path(mapping).name)
    raise PlanError(f"sources.{source}.format '{fmt}' has no importer")


def _options(entry: dict, raw_dir: Path, paths: tuple[str, ...] = ()) -> dict:
    """The importer's own settings of an entry (everything but format and files); file settings are made
    paths in raw_dir."""
    options = {k: v for k, v in entry.items() if k not in ("format", "path", "paths", "mapping")}
    for key in paths:
        if options.get(key):
            options[key] = Path(raw_dir) / options[key]
    return options


def _pounds(value) -> str:
    """An amount as the contract's money rule reads it: text as the importer wrote it, or a number to
    the penny."""
    if isinstance(value, str):
        return value
    return "" if pd.isna(value) else f"{float(value):.2f}"


def write_imported(imported: Imported, contract_name: str, output: str, log_output: str,
                   provenance_output: str, source: str, entry: dict) -> None:
    """Write what an importer made as the contract file (money to the penny, as the contract reads it), its
    counted rules for the cleaning log, and what provenance must record of the source."""
    frame = imported.frame.copy()
    for column in MONEY_COLUMNS.get(contract_name, ()):
        frame[column] = frame[column].map(_pounds)
    io.write_csv(frame, output)
    io.write_csv(pd.DataFrame(imported.log, columns=CleaningLog.COLUMNS), log_output)
    io.write_json({"source": source, "format": entry["format"], "files": [Path(p).name for p in
                                                                         source_paths(entry)],
                   **imported.provenance}, provenance_output)
