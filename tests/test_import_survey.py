"""The survey importer (analysis/importers/survey.py): shipped mappings, the committed fixtures in the
distributors' layouts, round trips through the writers of tests/formats/survey.py, and the bad-input corpus
tests/corpus/import_survey.yaml."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from analysis.contract import SURVEY
from analysis.errors import RawDataError
from analysis.importers.survey import MAPPINGS_DIR, check_mapping, load_mapping, read_mapped_survey
from tests.formats.survey import FIXTURES, GHQ_ITEMS, K6_ITEMS, write_fixtures, write_mcs, write_ukhls

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "import_survey.yaml"
CASES = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
MAPPINGS = {"mcs": MAPPINGS_DIR / "mcs_parent_interview.yaml",
            "ukhls_sav": MAPPINGS_DIR / "understanding_society_ghq.yaml",
            "ukhls_tab": MAPPINGS_DIR / "understanding_society_ghq.yaml",
            "csv": FIXTURES / "csv" / "local_survey_mapping.yaml"}
BINARY = {".dta": (pyreadstat.read_dta, pyreadstat.write_dta),
          ".sav": (pyreadstat.read_sav, pyreadstat.write_sav)}


def contract_frame() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "contract_frame.csv", dtype=str, keep_default_na=False)


def import_fixture(folder: Path, mapping_path: Path, mapping: dict | None = None):
    mapping = mapping if mapping is not None else load_mapping(mapping_path)
    files = sorted(path for path in folder.iterdir() if path.suffix != ".yaml")
    return read_mapped_survey(mapping, files, mapping_name=mapping_path.name)


def expected(frame: pd.DataFrame, ids: dict[str, str], items: list[str]) -> pd.DataFrame:
    """The contract frame's items, keyed by the ids the importer makes, in (wave, mother) order."""
    out = frame.assign(mother_id=frame["mother_id"].map(ids))[["mother_id", "wave", *items]]
    return out.sort_values(["wave", "mother_id"]).reset_index(drop=True)


def imported_items(imported, items: list[str]) -> pd.DataFrame:
    out = imported.frame[["mother_id", "wave", *items]]
    return out.sort_values(["wave", "mother_id"]).reset_index(drop=True)


# ---- the shipped mappings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mcs_parent_interview", "understanding_society_ghq"])
def test_shipped_mapping_loads_by_bare_name_and_by_path(name):
    by_name = load_mapping(name)
    assert by_name == load_mapping(MAPPINGS_DIR / f"{name}.yaml")
    assert check_mapping(by_name) == []
    assert by_name["sources"], "a shipped mapping cites its sources"


def test_mcs_mapping_puts_the_k6_in_kesslers_order():
    renames = load_mapping("mcs_parent_interview")["renames"]
    assert {renames[f"{{prefix}}{name}"] for name in ("PPHNE00", "PPHHO00", "PPHRF00", "PPHDE00", "PPHEE00",
                                                      "PPHWO00")} == set(K6_ITEMS)
    assert renames["{prefix}PPHNE00"] == "k6_1"  # nervous comes first in Kessler's K6
    assert renames["{prefix}PPHDE00"] == "k6_4"  # so depressed nothing could cheer you up


def test_unknown_shipped_mapping_is_refused_naming_the_shipped_ones():
    with pytest.raises(RawDataError) as caught:
        load_mapping("mcs_parent_interviews")
    assert "mapping file not found" in str(caught.value)
    assert "mcs_parent_interview, understanding_society_ghq" in str(caught.value)


# ---- the committed fixtures -------------------------------------------------------------------------------

def test_mcs_fixture_gives_each_natural_mothers_k6_and_her_local_authority():
    imported = import_fixture(FIXTURES / "mcs", MAPPINGS["mcs"])
    frame = contract_frame()
    ids = {m: f"{m}_1" for m in frame["mother_id"]}
    pd.testing.assert_frame_equal(imported_items(imported, K6_ITEMS), expected(frame, ids, K6_ITEMS))
    assert list(imported.frame.columns) == SURVEY.column_names + ["la_code"]
    la = dict(zip(frame["mother_id"].map(ids), frame["la_code"], strict=True))
    assert (imported.frame["la_code"] == imported.frame["mother_id"].map(la)).all()
    assert (imported.frame[["centre_id", *GHQ_ITEMS, "mother_age"]] == "").all().all()
    rules = {(entry["file"], entry["column"], entry["rule"]): entry["n_rows"] for entry in imported.log}
    # The partners (partner interview) are dropped and counted in every sweep: 4, 4 and 3 families.
    dropped = [n for (file, column, rule), n in rules.items() if column.endswith("ELIG00")]
    assert dropped == [4, 4, 3]
    blank_age = [e["n_rows"] for e in imported.log if e["column"] == "mother_age"]
    assert blank_age == [4, 4, 3] and blank_age == [int(n) for n in frame["wave"].value_counts().sort_index()]
    assert imported.provenance["files_ignored"] == []


@pytest.mark.parametrize("fixture", ["ukhls_sav", "ukhls_tab"])
def test_ukhls_fixture_gives_each_listed_mothers_ghq12(fixture):
    imported = import_fixture(FIXTURES / fixture, MAPPINGS[fixture])
    frame = contract_frame()
    pidps = sorted(frame["mother_id"].unique())
    ids = {mother: str(68_000_001 + 4 * index) for index, mother in enumerate(pidps)}
    pd.testing.assert_frame_equal(imported_items(imported, GHQ_ITEMS), expected(frame, ids, GHQ_ITEMS))
    assert (imported.frame[K6_ITEMS] == "").all().all(), "the K6 is not in Understanding Society's mapping"
    centres = dict(zip(frame["mother_id"].map(ids), frame["centre_id"], strict=True))
    assert (imported.frame["centre_id"] == imported.frame["mother_id"].map(centres)).all()
    assert ("la_code" in imported.frame.columns) == (fixture == "ukhls_tab")  # only the tab set carries it
    dropped = [e["n_rows"] for e in imported.log if e["rule"].startswith("row dropped: no row for its id")]
    assert dropped == [4, 4, 3]  # the other respondent of each household


def test_sav_and_tab_fixtures_read_the_same():
    sav = import_fixture(FIXTURES / "ukhls_sav", MAPPINGS["ukhls_sav"]).frame
    tab = import_fixture(FIXTURES / "ukhls_tab", MAPPINGS["ukhls_tab"]).frame
    pd.testing.assert_frame_equal(sav, tab.drop(columns="la_code"))


def test_wide_csv_is_reversed_onto_the_contracts_scale():
    imported = import_fixture(FIXTURES / "csv", MAPPINGS["csv"])
    frame = contract_frame()
    ids = {m: f"{m}-1" for m in frame["mother_id"]}
    pd.testing.assert_frame_equal(imported_items(imported, K6_ITEMS), expected(frame, ids, K6_ITEMS))
    reversed_rows = sum(e["n_rows"] for e in imported.log if e["rule"].startswith("item reversed"))
    answered = frame[K6_ITEMS].isin(["1", "2", "3", "4", "5"]).sum().sum()
    assert reversed_rows == answered
    # M0004 was not interviewed in wave 3: no row, and the drop is counted.
    assert not ((imported.frame["mother_id"] == "M0004-1") & (imported.frame["wave"] == "3")).any()
    assert any(e["column"] == "W3_SEEN" and e["n_rows"] == 1 for e in imported.log)


def _parsed(path: Path) -> pd.DataFrame:
    if path.suffix in BINARY:
        frame, meta = BINARY[path.suffix][0](str(path))
        labels = pd.Series({k: str(v) for k, v in meta.variable_value_labels.items()}, dtype=object)
        return pd.concat([frame, labels.to_frame().T.reindex(columns=frame.columns)], ignore_index=True)
    sep = "\t" if path.suffix == ".tab" else ","
    return pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)


def test_committed_fixtures_are_what_the_writers_make(tmp_path):
    write_fixtures(tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file()
                       and p.suffix not in (".md", ".yaml"))
    assert made == committed
    for relative in made:
        pd.testing.assert_frame_equal(_parsed(tmp_path / relative), _parsed(FIXTURES / relative),
                                      obj=str(relative))


def test_fixtures_use_the_distributed_names_and_codes():
    interview, meta = pyreadstat.read_dta(str(FIXTURES / "mcs" / "mcs3_parent_interview.dta"))
    assert {"MCSID", "CPNUM00", "CELIG00", "CPPHDE00", "CPPHHO00", "CPPHRF00", "CPPHEE00", "CPPHWO00",
            "CPPHNE00"} == set(interview.columns)
    assert meta.variable_value_labels["CPPHDE00"][6] == "Can't say"
    grid, meta = pyreadstat.read_dta(str(FIXTURES / "mcs" / "mcs3_hhgrid.dta"))
    assert meta.variable_value_labels["CHCREL00"][7] == "Natural parent"
    indresp, meta = pyreadstat.read_sav(str(FIXTURES / "ukhls_sav" / "b_indresp.sav"))
    assert {"pidp", "b_hidp", *(f"b_scghq{c}" for c in "abcdefghijkl")} == set(indresp.columns)
    assert meta.variable_value_labels["b_scghqa"][-7] == "proxy"


# ---- round trips of the synthetic dataset -----------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_survey() -> pd.DataFrame:
    """The first 400 mothers of the simulator's survey.csv, without the rows it breaks on purpose for the
    cleaning stage (exact duplicates, and cells the cleaning must rewrite), which a survey file as
    distributed cannot hold."""
    frame = pd.read_csv(ROOT / "data" / "raw" / "survey.csv", dtype=str, keep_default_na=False)
    frame = frame[frame["mother_id"].isin(sorted(frame["mother_id"].unique())[:400])]
    plain = frame[[*K6_ITEMS, *GHQ_ITEMS]].isin(["", "-9", "-8", "-1", "1", "2", "3", "4", "5"]).all(axis=1)
    tidy_ids = frame["mother_id"].str.fullmatch(r"M[0-9]{5}") & frame["centre_id"].str.fullmatch(r"CC\d{4}")
    frame = frame[plain & tidy_ids].drop_duplicates(["mother_id", "wave"])
    assert len(frame) > 500
    return frame.reset_index(drop=True)


def test_synthetic_dataset_round_trips_through_the_mcs_layout(tmp_path, synthetic_survey):
    written = write_mcs(synthetic_survey, tmp_path, geography_column="centre_id")
    imported = read_mapped_survey(load_mapping("mcs_parent_interview"), written.files,
                                  mapping_name="mcs_parent_interview.yaml")
    columns = [*K6_ITEMS, "centre_id"]
    pd.testing.assert_frame_equal(imported_items(imported, columns),
                                  expected(synthetic_survey, written.mother_ids, columns))
    assert "la_code" not in imported.frame.columns


def test_synthetic_dataset_round_trips_through_the_ukhls_layout(tmp_path, synthetic_survey):
    written = write_ukhls(synthetic_survey, tmp_path, formats=("tab",), geography_column="centre_id")
    imported = read_mapped_survey(load_mapping("understanding_society_ghq"), written.files,
                                  mapping_name="understanding_society_ghq.yaml")
    columns = [*GHQ_ITEMS, "centre_id"]
    pd.testing.assert_frame_equal(imported_items(imported, columns),
                                  expected(synthetic_survey, written.mother_ids, columns))


def test_files_the_mapping_does_not_name_are_listed_not_read(tmp_path):
    folder = tmp_path / "mcs"
    shutil.copytree(FIXTURES / "mcs", folder)
    (folder / "mcs2_cm_interview.dta").write_bytes(b"not read")
    imported = import_fixture(folder, MAPPINGS["mcs"])
    assert imported.provenance["files_ignored"] == ["mcs2_cm_interview.dta"]


# ---- the bad-input corpus ---------------------------------------------------------------------------------

def _row_index(path: Path, row: int) -> int:
    return row - (1 if path.suffix in BINARY else 2)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix in BINARY:
        return BINARY[path.suffix][0](str(path))[0]
    return pd.read_csv(path, dtype=str, keep_default_na=False, sep="\t" if path.suffix == ".tab" else ",")


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix in BINARY:
        BINARY[path.suffix][1](frame, str(path))
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tab" else ",")


def _set(frame: pd.DataFrame, index: int, column: str, value) -> None:
    if pd.api.types.is_numeric_dtype(frame[column]):
        frame.loc[index, column] = np.nan if value == "" else float(value)
    else:
        frame.loc[index, column] = str(value)


def _key_steps(key: str) -> list:
    steps = []
    for part in key.split("."):
        name, *indexes = re.findall(r"[^\[\]]+", part)
        steps.append(name)
        steps.extend(int(i) - 1 for i in indexes)
    return steps


def _at(mapping: dict, key: str):
    *parents, last = _key_steps(key)
    node = mapping
    for step in parents:
        node = node[step]
    return node, last


def rename_variable(folder, mapping, file, old, new):
    frame = _read(folder / file)
    _write(frame.rename(columns={old: new}), folder / file)


def drop_variable(folder, mapping, file, column):
    _write(_read(folder / file).drop(columns=column), folder / file)


def set_value(folder, mapping, file, column, row, value):
    frame = _read(folder / file)
    _set(frame, _row_index(folder / file, row), column, value)
    _write(frame, folder / file)


def duplicate_row(folder, mapping, file, row, set=None):  # noqa: A002 - the corpus's argument name
    frame = _read(folder / file)
    copied = frame.iloc[[_row_index(folder / file, row)]].copy().reset_index(drop=True)
    for column, value in (set or {}).items():
        _set(copied, 0, column, value)
    _write(pd.concat([frame, copied], ignore_index=True), folder / file)


def delete_row(folder, mapping, file, row):
    frame = _read(folder / file)
    _write(frame.drop(index=_row_index(folder / file, row)).reset_index(drop=True), folder / file)


def drop_file(folder, mapping, file):
    (folder / file).unlink()


def rename_file(folder, mapping, file, to):
    (folder / file).rename(folder / to)


def replace_file(folder, mapping, file, text):
    (folder / file).write_text(text, encoding="utf-8")


def copy_as_tab(folder, mapping, file, to):
    _write(_read(folder / file), folder / to)


def encode_file(folder, mapping, file, encoding, append_row):
    text = (folder / file).read_text(encoding="utf-8") + append_row + "\n"
    (folder / file).write_bytes(text.encode(encoding))


def resave_tab_delimited(folder, mapping, file):
    _read(folder / file).to_csv(folder / file, index=False, sep="\t")


def mapping_set(folder, mapping, key, value):
    node, last = _at(mapping, key)
    node[last] = value


def mapping_delete(folder, mapping, key):
    node, last = _at(mapping, key)
    del node[last]


def mapping_remove_item(folder, mapping, key, item):
    node, last = _at(mapping, key)
    node[last].remove(item)


def mapping_append(folder, mapping, key, item):
    node, last = _at(mapping, key)
    node[last].append(item)


def mapping_text(folder, mapping, text):
    mapping.clear()
    mapping["__text__"] = text


OPERATIONS = {f.__name__: f for f in (rename_variable, drop_variable, set_value, duplicate_row, delete_row,
                                      drop_file, rename_file, replace_file, copy_as_tab, encode_file,
                                      resave_tab_delimited, mapping_set, mapping_delete, mapping_remove_item,
                                      mapping_append, mapping_text)}


def run_case(case: dict, tmp_path: Path):
    """The case's fixture with its change applied, read through its mapping (written to a file and loaded,
    so that the mapping file's checks run as they do for a user)."""
    folder = tmp_path / case["fixture"]
    shutil.copytree(FIXTURES / case["fixture"], folder)
    mapping_path = MAPPINGS[case["fixture"]]
    mapping = copy.deepcopy(yaml.safe_load(mapping_path.read_text(encoding="utf-8")))
    changes = case["change"] if isinstance(case["change"], list) else [case["change"]]
    for change in changes:
        (operation, arguments), = change.items()
        OPERATIONS[operation](folder, mapping, **arguments)
    written = tmp_path / mapping_path.name
    text = mapping.pop("__text__") if "__text__" in mapping else yaml.safe_dump(mapping, sort_keys=False)
    written.write_text(text, encoding="utf-8")
    return import_fixture(folder, written)


def test_corpus_cases_are_well_formed():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        assert case["expect"] in ("error", "warning", "accepted"), case["id"]
        assert case["fixture"] in MAPPINGS, case["id"]
        changes = case["change"] if isinstance(case["change"], list) else [case["change"]]
        assert all(len(change) == 1 and next(iter(change)) in OPERATIONS for change in changes), case["id"]
        assert case["expect"] == "accepted" or case.get("messages"), case["id"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_corpus_case(case, tmp_path):
    if case["expect"] == "error":
        with pytest.raises(RawDataError) as caught:
            run_case(case, tmp_path)
        text = str(caught.value)
        for message in case["messages"]:
            assert message in text, f"{message!r} not in:\n{text}"
        for quoted in case.get("must_not_appear", []):
            assert quoted not in text
        assert str(tmp_path) not in text, "messages name files, never their folder"
        return
    imported = run_case(case, tmp_path)
    if case["expect"] == "warning":
        rules = [entry["rule"] for entry in imported.log]
        for message in case["messages"]:
            assert any(message in rule for rule in rules), f"{message!r} not among {rules}"
    else:
        unchanged = import_fixture(FIXTURES / case["fixture"], MAPPINGS[case["fixture"]])
        pd.testing.assert_frame_equal(imported.frame, unchanged.frame)
