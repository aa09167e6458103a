"""The GIAS importer (analysis/importers/gias.py) on its fixture, its rules and its bad-input corpus."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.errors import RawDataError
from analysis.importers.gias import CENTRE_COLUMNS, read_gias
from tests.formats import gias as gias_format

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import" / "gias"
GIAS_FILE = FIXTURES / gias_format.FIXTURE_FILE
IOD_FILE = FIXTURES / gias_format.IOD_FIXTURE_FILE
CORPUS = Path(__file__).resolve().parent / "corpus" / "import_gias.yaml"
WINDOW = ("2011-12", "2016-17")


def rules(result) -> dict[str, int]:
    return {entry["rule"]: entry["n_rows"] for entry in result.log}


# ---- the committed fixture -------------------------------------------------------------------------------


def test_committed_fixture_is_what_the_writer_makes(tmp_path):
    gias_format.write_fixture(tmp_path)
    for name in (gias_format.FIXTURE_FILE, gias_format.IOD_FIXTURE_FILE):
        made = pd.read_csv(tmp_path / name, dtype=str, keep_default_na=False, encoding="cp1252")
        committed = pd.read_csv(FIXTURES / name, dtype=str, keep_default_na=False, encoding="cp1252")
        pd.testing.assert_frame_equal(made, committed)


def test_fixture_is_windows_1252_with_the_published_header():
    raw = GIAS_FILE.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    header = next(csv.reader(io.StringIO(raw.decode("cp1252"))))
    assert header == gias_format.GIAS_HEADER
    assert header[:5] == ["URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName"]


# ---- rules -----------------------------------------------------------------------------------------------


def test_reads_centres_without_a_window():
    result = read_gias(GIAS_FILE)
    frame = result.frame
    assert list(frame.columns) == CENTRE_COLUMNS
    assert list(frame["centre_id"]) == ["20001", "20002", "20003", "20004", "20005", "20006"]
    assert frame.loc[1, "centre_name"] == "St Thomas \u00e0 Becket Children\u2019s Centre"  # read as cp1252
    assert list(frame["la_code"]) == [
        "E10000717",
        "E10000717",
        "E09000901",
        "E06000901",
        "E06000901",
        "E08000901",
    ]
    assert list(frame["urban_rural"]) == ["urban", "rural", "urban", "urban", "rural", "urban"]
    assert (frame["phase"] == "").all() and (frame["idaci_decile"] == "").all()
    counted = rules(result)
    assert counted["not a children's centre (type 47) or linked site (type 48): dropped"] == 1
    assert counted["children's centre linked site (type 48) dropped"] == 1
    assert counted["closed centre kept (no analysis window given)"] == 2
    assert counted["phase left blank: GIAS does not publish a children's centre's phase"] == 6
    assert result.provenance["encoding"] == "windows-1252"


def test_window_keeps_centres_open_at_any_time_in_it():
    result = read_gias(GIAS_FILE, open_during=WINDOW)
    # 20004 closed 31-08-2010 (before 1 April 2011), 20005 opened 01-09-2018 (after 31 March 2017)
    assert list(result.frame["centre_id"]) == ["20001", "20002", "20003", "20006"]
    counted = rules(result)
    assert counted["closed before the analysis window: dropped"] == 1
    assert counted["opened after the analysis window: dropped"] == 1
    assert counted["OpenDate blank: read as open before the register's records begin"] == 1


def test_window_edges_are_inclusive(tmp_path):
    centres = gias_format.fixture_centres().iloc[:2].copy()
    centres["close_date"] = ["01-04-2011", ""]  # closed on the window's first day: open in it
    centres["status"] = ["Closed", "Open"]
    centres["open_date"] = ["01-04-2006", "31-03-2017"]  # opened on its last day
    path = gias_format.write_gias_csv(centres, tmp_path / "edubaseallchildrencentre20250422.csv")
    assert list(read_gias(path, open_during=WINDOW).frame["centre_id"]) == ["20001", "20002"]
    centres["close_date"] = ["31-03-2011", ""]
    centres["open_date"] = ["01-04-2006", "01-04-2017"]
    path = gias_format.write_gias_csv(centres, tmp_path / "edubaseallchildrencentre20250422.csv")
    with pytest.raises(RawDataError, match="holds no children's centre open in the analysis window"):
        read_gias(path, open_during=WINDOW)


def test_linked_sites_kept_when_asked():
    result = read_gias(GIAS_FILE, include_linked_sites=True)
    assert "20101" in set(result.frame["centre_id"])
    assert rules(result)["children's centre linked site (type 48) kept as a centre"] == 1


def test_idaci_joined_by_lsoa():
    result = read_gias(GIAS_FILE, open_during=WINDOW, idaci_path=IOD_FILE)
    assert dict(zip(result.frame["centre_id"], result.frame["idaci_decile"], strict=True)) == {
        "20001": "2",
        "20002": "7",
        "20003": "1",
        "20006": "3",
    }
    assert result.provenance["idaci"]["lsoa_column"] == "LSOA code (2011)"


def test_idaci_from_a_workbook(tmp_path):
    iod = pd.read_csv(IOD_FILE, dtype=str)
    iod[gias_format.IOD_FILE3_HEADER[5]] = iod[gias_format.IOD_FILE3_HEADER[5]].astype(int)
    book = tmp_path / "File_3_IoD2019_Supplementary_Indices_IDACI_and_IDAOPI.xlsx"
    with pd.ExcelWriter(book, engine="openpyxl") as writer:
        pd.DataFrame({"Notes": ["synthetic"]}).to_excel(writer, sheet_name="Notes", index=False)
        iod.to_excel(writer, sheet_name="IoD2019 IDACI & IDAOPI", index=False)
    result = read_gias(GIAS_FILE, idaci_path=book)
    assert list(result.frame["idaci_decile"]) == ["2", "7", "1", "5", "9", "3"]


def test_bad_idaci_decile_refused(tmp_path):
    iod = pd.read_csv(IOD_FILE, dtype=str)
    iod.loc[2, gias_format.IOD_FILE3_HEADER[5]] = "11"
    path = tmp_path / IOD_FILE.name
    iod.to_csv(path, index=False)
    with pytest.raises(RawDataError, match=r"row 4: is not a whole number from 1 to 10"):
        read_gias(GIAS_FILE, idaci_path=path)


def test_gss_code_preferred_over_the_lookup():
    lookup = pd.DataFrame({"la_number": ["871", "872", "873", "874"], "gss_code": ["E10000001"] * 4})
    result = read_gias(GIAS_FILE, la_lookup=lookup)
    assert result.frame.loc[0, "la_code"] == "E10000717"
    assert not any("lookup" in rule for rule in rules(result))


def test_bad_window_argument():
    with pytest.raises(ValueError, match="not a financial year"):
        read_gias(GIAS_FILE, open_during=("2011/12", "2016-17"))


def test_missing_file_named_without_folder(tmp_path):
    with pytest.raises(RawDataError) as caught:
        read_gias(tmp_path / "edubasealldata20990101.csv")
    assert "edubasealldata20990101.csv: was not found" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)


def test_writer_keeps_made_up_gss_codes(tmp_path):
    centres = pd.DataFrame(
        {
            "centre_id": ["C1", "C2"],
            "centre_name": ["A", "B"],
            "la_code": ["E10000717", "E09000999"],
            "la_name": ["Made-up LA", "Other LA"],
            "phase": ["1", "2"],
            "idaci_decile": ["3", "4"],
            "urban_rural": ["urban", "rural"],
        }
    )
    centres["centre_id"] = ["900001", "900002"]
    path = gias_format.write_gias_csv(centres, tmp_path / "edubaseallchildrencentre.csv")
    frame = read_gias(path).frame
    assert list(frame["la_code"]) == ["E10000717", "E09000999"]
    assert list(frame["la_name"]) == ["Made-up LA", "Other LA"]
    assert list(frame["urban_rural"]) == ["urban", "rural"]


# ---- the bad-input corpus --------------------------------------------------------------------------------


def _records(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("cp1252"), newline="")))


def _write(path: Path, records, encoding="cp1252") -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(records)
    path.write_bytes(buffer.getvalue().encode(encoding))


def _row(records, urn) -> int:
    return next(index for index, record in enumerate(records) if record and record[0] == urn)


def rename_column(records, column, to):
    records[0][records[0].index(column)] = to


def drop_column(records, column):
    at = records[0].index(column)
    for record in records:
        del record[at]


def add_column(records, column, value):
    records[0].append(column)
    for record in records[1:]:
        record.append(value)


def append_record(records, cells):
    records.append(list(cells))


def append_footnote(records, text):
    records.append([text] + [""] * (len(records[0]) - 1))


def duplicate_record(records, urn):
    records.append(list(records[_row(records, urn)]))


def only_types(records, types):
    at = records[0].index("TypeOfEstablishment (code)")
    records[1:] = [record for record in records[1:] if int(record[at]) in types]


def set_cell(records, urn, column, value):
    records[_row(records, urn)][records[0].index(column)] = value


OPERATIONS = {
    function.__name__: function
    for function in (
        rename_column,
        drop_column,
        add_column,
        append_record,
        append_footnote,
        duplicate_record,
        only_types,
        set_cell,
    )
}
BYTE_OPERATIONS = ("insert_byte", "reencode")


def make_variant(change: dict, folder: Path) -> Path:
    ((operation, arguments),) = change.items()
    path = folder / GIAS_FILE.name
    records = _records(GIAS_FILE)
    if operation in OPERATIONS:
        OPERATIONS[operation](records, **arguments)
        _write(path, records)
    elif operation == "reencode":
        _write(path, records, encoding=arguments["encoding"])
    elif operation == "insert_byte":
        _write(path, records)
        name = records[_row(records, arguments["urn"])][records[0].index("EstablishmentName")]
        raw = path.read_bytes()
        path.write_bytes(
            raw.replace(name.encode("cp1252"), name.encode("cp1252") + bytes([arguments["byte"]]), 1)
        )
    else:
        raise ValueError(f"unknown corpus operation {operation}")
    return path


def read_options(options: dict) -> dict:
    options = dict(options or {})
    if options.pop("idaci", False):
        options["idaci_path"] = IOD_FILE
    if "open_during" in options:
        options["open_during"] = tuple(options["open_during"])
    if "la_lookup" in options:
        lookup = options["la_lookup"]
        options["la_lookup"] = pd.DataFrame({"la_number": list(lookup), "gss_code": list(lookup.values())})
    return options


CASES = yaml.safe_load(CORPUS.read_text())


def test_corpus_is_well_formed():
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        ((operation, _),) = case["change"].items()
        assert operation in OPERATIONS or operation in BYTE_OPERATIONS, case["id"]
        assert case["expect"] in ("error", "accepted", "warning"), case["id"]
        assert case["expect"] == "accepted" or case.get("messages"), case["id"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_corpus_case(case, tmp_path):
    path = make_variant(case["change"], tmp_path)
    options = read_options(case.get("options"))
    if case["expect"] == "error":
        with pytest.raises(RawDataError) as caught:
            read_gias(path, **options)
        text = str(caught.value)
        for message in case["messages"]:
            assert message in text, text
        assert str(tmp_path) not in text and "Traceback" not in text
        return
    result = read_gias(path, **options)
    if case["expect"] == "accepted":
        pd.testing.assert_frame_equal(result.frame, read_gias(GIAS_FILE, **options).frame)
    else:
        logged = " | ".join(entry["rule"] for entry in result.log)
        for message in case["messages"]:
            assert message in logged, logged
