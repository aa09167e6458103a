"""Writes a contract centres frame in the layout of a GIAS establishment extract (edubasealldata*.csv).

The header is GIAS's "all establishment data" header as published in 2025 (see
tests/fixtures/import/gias/SOURCE.md); every column the importer does not read is written blank. Values are
whatever the frame holds, so the end-to-end tests can use made-up GSS codes and LA names.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

# GIAS "all establishment data" columns, in published order (files downloaded from April 2025 on).
GIAS_HEADER = [
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (code)",
    "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (code)",
    "EstablishmentTypeGroup (name)",
    "EstablishmentStatus (code)",
    "EstablishmentStatus (name)",
    "ReasonEstablishmentOpened (code)",
    "ReasonEstablishmentOpened (name)",
    "OpenDate",
    "ReasonEstablishmentClosed (code)",
    "ReasonEstablishmentClosed (name)",
    "CloseDate",
    "PhaseOfEducation (code)",
    "PhaseOfEducation (name)",
    "StatutoryLowAge",
    "StatutoryHighAge",
    "Boarders (code)",
    "Boarders (name)",
    "NurseryProvision (name)",
    "OfficialSixthForm (code)",
    "OfficialSixthForm (name)",
    "Gender (code)",
    "Gender (name)",
    "ReligiousCharacter (code)",
    "ReligiousCharacter (name)",
    "ReligiousEthos (name)",
    "Diocese (code)",
    "Diocese (name)",
    "AdmissionsPolicy (code)",
    "AdmissionsPolicy (name)",
    "SchoolCapacity",
    "SpecialClasses (code)",
    "SpecialClasses (name)",
    "CensusDate",
    "NumberOfPupils",
    "NumberOfBoys",
    "NumberOfGirls",
    "PercentageFSM",
    "TrustSchoolFlag (code)",
    "TrustSchoolFlag (name)",
    "Trusts (code)",
    "Trusts (name)",
    "SchoolSponsorFlag (name)",
    "SchoolSponsors (name)",
    "FederationFlag (name)",
    "Federations (code)",
    "Federations (name)",
    "UKPRN",
    "FEHEIdentifier",
    "FurtherEducationType (name)",
    "LastChangedDate",
    "Street",
    "Locality",
    "Address3",
    "Town",
    "County (name)",
    "Postcode",
    "SchoolWebsite",
    "TelephoneNum",
    "HeadTitle (name)",
    "HeadFirstName",
    "HeadLastName",
    "HeadPreferredJobTitle",
    "BSOInspectorateName (name)",
    "InspectorateReport",
    "DateOfLastInspectionVisit",
    "NextInspectionVisit",
    "TeenMoth (name)",
    "TeenMothPlaces",
    "CCF (name)",
    "SENPRU (name)",
    "EBD (name)",
    "PlacesPRU",
    "FTProv (name)",
    "EdByOther (name)",
    "Section41Approved (name)",
    "SEN1 (name)",
    "SEN2 (name)",
    "SEN3 (name)",
    "SEN4 (name)",
    "SEN5 (name)",
    "SEN6 (name)",
    "SEN7 (name)",
    "SEN8 (name)",
    "SEN9 (name)",
    "SEN10 (name)",
    "SEN11 (name)",
    "SEN12 (name)",
    "SEN13 (name)",
    "TypeOfResourcedProvision (name)",
    "ResourcedProvisionOnRoll",
    "ResourcedProvisionCapacity",
    "SenUnitOnRoll",
    "SenUnitCapacity",
    "GOR (code)",
    "GOR (name)",
    "DistrictAdministrative (code)",
    "DistrictAdministrative (name)",
    "AdministrativeWard (code)",
    "AdministrativeWard (name)",
    "ParliamentaryConstituency (code)",
    "ParliamentaryConstituency (name)",
    "UrbanRural (code)",
    "UrbanRural (name)",
    "GSSLACode (name)",
    "Easting",
    "Northing",
    "MSOA (name)",
    "LSOA (name)",
    "InspectorateName (name)",
    "SENStat",
    "SENNoStat",
    "BoardingEstablishment (name)",
    "PropsName",
    "PreviousLA (code)",
    "PreviousLA (name)",
    "PreviousEstablishmentNumber",
    "Country (name)",
    "UPRN",
    "SiteName",
    "QABName (code)",
    "QABName (name)",
    "EstablishmentAccredited (code)",
    "EstablishmentAccredited (name)",
    "QABReport",
    "CHNumber",
    "MSOA (code)",
    "LSOA (code)",
    "FSM",
    "AccreditationExpiryDate",
]

TYPE_NAMES = {
    47: "Children's centre",
    48: "Children's centre linked site",
    15: "Local authority nursery school",
}
TYPE_GROUPS = {
    47: (12, "Children's centres"),
    48: (12, "Children's centres"),
    15: (4, "Local authority maintained schools"),
}
STATUS_CODES = {"Open": 1, "Closed": 2, "Open, but proposed to close": 3, "Proposed to open": 4}
# RUC2011 labels and codes (ONS) for the two contract categories.
URBAN_RURAL = {
    "urban": ("C1", "(England/Wales) Urban city and town"),
    "rural": ("E1", "(England/Wales) Rural village"),
}


def gias_rows(centres: pd.DataFrame) -> list[dict]:
    """One GIAS record (column -> text) per row of a contract centres frame. Optional frame columns:
    la_number (3 digits, default 800 + row), lsoa, type (47), status ('Open'), open_date and close_date
    (dd-mm-yyyy text, default '01-04-2006' and blank)."""
    rows = []
    for position, centre in enumerate(centres.to_dict("records")):
        type_code = int(centre.get("type", 47) or 47)
        status = centre.get("status", "Open") or "Open"
        urban_rural = URBAN_RURAL.get(str(centre.get("urban_rural", "")).strip().lower(), ("", ""))
        record = dict.fromkeys(GIAS_HEADER, "")
        record.update(
            {
                "URN": str(centre["centre_id"]),
                "LA (code)": str(centre.get("la_number", 800 + position)),
                "LA (name)": centre["la_name"],
                "EstablishmentName": centre["centre_name"],
                "TypeOfEstablishment (code)": str(type_code),
                "TypeOfEstablishment (name)": TYPE_NAMES[type_code],
                "EstablishmentTypeGroup (code)": str(TYPE_GROUPS[type_code][0]),
                "EstablishmentTypeGroup (name)": TYPE_GROUPS[type_code][1],
                "EstablishmentStatus (code)": str(STATUS_CODES.get(status, "")),
                "EstablishmentStatus (name)": status,
                "OpenDate": centre.get("open_date", "01-04-2006"),
                "CloseDate": centre.get("close_date", "") or "",
                "PhaseOfEducation (code)": "0",
                "PhaseOfEducation (name)": "Not applicable",
                "UrbanRural (code)": urban_rural[0],
                "UrbanRural (name)": urban_rural[1],
                "GSSLACode (name)": centre["la_code"],
                "LSOA (code)": centre.get("lsoa", "") or "",
                "Country (name)": "United Kingdom",
            }
        )
        rows.append(record)
    return rows


def write_gias_csv(
    centres: pd.DataFrame, path: Path, *, extra_rows: list[dict] | None = None, encoding: str = "cp1252"
) -> Path:
    """Write the centres (plus any extra GIAS records, e.g. schools) as a GIAS extract: Windows-1252, CRLF
    line ends, text quoted and whole numbers bare, as GIAS writes them."""
    records = gias_rows(centres) + list(extra_rows or [])
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(GIAS_HEADER)
    for record in records:
        writer.writerow([_cell(record.get(column, "")) for column in GIAS_HEADER])
    Path(path).write_bytes(buffer.getvalue().encode(encoding))
    return Path(path)


def _cell(value):
    """Whole numbers are written bare, everything else quoted (QUOTE_NONNUMERIC quotes str only)."""
    text = "" if value is None else str(value)
    return int(text) if text.isdigit() and not text.startswith("0") else text


# ---- the committed fixture (tests/fixtures/import/gias/) ------------------------------------------------

# Columns of English Indices of Deprivation 2019, File 3 (supplementary indices IDACI and IDAOPI).
IOD_FILE3_HEADER = [
    "LSOA code (2011)",
    "LSOA name (2011)",
    "Local Authority District code (2019)",
    "Local Authority District name (2019)",
    "Income Deprivation Affecting Children Index (IDACI) Rank (where 1 is most deprived)",
    "Income Deprivation Affecting Children Index (IDACI) Decile (where 1 is most deprived 10% of LSOAs)",
    "Income Deprivation Affecting Older People (IDAOPI) Rank (where 1 is most deprived)",
    "Income Deprivation Affecting Older People (IDAOPI) Decile (where 1 is most deprived 10% of LSOAs)",
]
FIXTURE_FILE = "edubasealldata20250422.csv"
IOD_FIXTURE_FILE = "File_3_IoD2019_Supplementary_Indices_IDACI_and_IDAOPI.csv"


def fixture_centres() -> pd.DataFrame:
    """Synthetic centres in made-up LAs (E10000717 ...); names, dates and LSOAs invented."""
    return pd.DataFrame(
        [
            # centre_id, centre_name, la_code, la_name, urban_rural, la_number, lsoa, type, status,
            # open_date, close_date
            (
                "20001",
                "Brookside Children's Centre",
                "E10000717",
                "Testshire",
                "urban",
                "871",
                "E01000011",
                47,
                "Open",
                "01-04-2006",
                "",
            ),
            (
                "20002",
                "St Thomas \u00e0 Becket Children\u2019s Centre",
                "E10000717",
                "Testshire",
                "rural",
                "871",
                "E01000012",
                47,
                "Open",
                "15-09-2007",
                "",
            ),
            (
                "20003",
                "Millfield Sure Start Centre",
                "E09000901",
                "Exampleton",
                "urban",
                "872",
                "E01000013",
                47,
                "Closed",
                "01-04-2006",
                "31-03-2014",
            ),
            (
                "20004",
                "Riverside Children's Centre",
                "E06000901",
                "Sample Bay",
                "urban",
                "873",
                "E01000014",
                47,
                "Closed",
                "01-06-2005",
                "31-08-2010",
            ),
            (
                "20005",
                "Hillcrest Children's Centre",
                "E06000901",
                "Sample Bay",
                "rural",
                "873",
                "E01000015",
                47,
                "Open",
                "01-09-2018",
                "",
            ),
            (
                "20006",
                "Oakwood Children's Centre",
                "E08000901",
                "Demo City",
                "urban",
                "874",
                "E01000016",
                47,
                "Open, but proposed to close",
                "",
                "31-03-2026",
            ),
            (
                "20101",
                "Brookside Children's Centre (Library site)",
                "E10000717",
                "Testshire",
                "urban",
                "871",
                "E01000011",
                48,
                "Open",
                "01-04-2009",
                "",
            ),
        ],
        columns=[
            "centre_id",
            "centre_name",
            "la_code",
            "la_name",
            "urban_rural",
            "la_number",
            "lsoa",
            "type",
            "status",
            "open_date",
            "close_date",
        ],
    )


def fixture_school() -> dict:
    """A record of another establishment type, which the importer drops."""
    record = gias_rows(
        pd.DataFrame(
            [
                {
                    "centre_id": "100001",
                    "centre_name": "Brookside Nursery School",
                    "la_code": "E10000717",
                    "la_name": "Testshire",
                    "urban_rural": "urban",
                    "la_number": "871",
                    "lsoa": "E01000011",
                    "type": 15,
                }
            ]
        )
    )[0]
    record.update({"PhaseOfEducation (code)": "1", "PhaseOfEducation (name)": "Nursery"})
    return record


IOD_FIXTURE = [  # LSOA, IDACI decile
    ("E01000011", 2),
    ("E01000012", 7),
    ("E01000013", 1),
    ("E01000014", 5),
    ("E01000015", 9),
    ("E01000016", 3),
    ("E01000017", 10),
]


def write_fixture(folder: Path) -> None:
    """Write the committed fixture files into folder."""
    folder = Path(folder)
    write_gias_csv(fixture_centres(), folder / FIXTURE_FILE, extra_rows=[fixture_school()])
    iod = pd.DataFrame(
        [
            (
                lsoa,
                f"Testshire {index:03d}A",
                "E07000901",
                "Testdale",
                1000 * decile - 17,
                decile,
                20000 + index,
                6,
            )
            for index, (lsoa, decile) in enumerate(IOD_FIXTURE, start=1)
        ],
        columns=IOD_FILE3_HEADER,
    )
    iod.to_csv(folder / IOD_FIXTURE_FILE, index=False, lineterminator="\r\n")


if __name__ == "__main__":  # python -m tests.formats.gias tests/fixtures/import/gias
    import sys

    write_fixture(Path(sys.argv[1]))
