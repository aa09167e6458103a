"""Writers of section 251 files in their published layouts, from an la_funding-shaped frame.

The frame has la_code, financial_year and spend_gbp (pounds as text or numbers; blank = not reported), and
optionally la_number and la_name. Its spend is written as the net current expenditure of line 3.0.1
(Sure Start children's centres: individual centres); the other lines and columns are filled plausibly and
consistently (total = the four provision columns, net = total - income, line 3.0.5 = lines 3.0.1-3.0.4).

- write_s251_ees_csv(frame, path): the Explore Education Statistics CSV (children's and young people's
  services), with National and Regional rows and some lines of other categories, as DfE publishes it.
- write_s251_workbook(frame, year, path): a one-year .xlsx of the older LA-level data (2011-12 to 2013-14
  headings), with title rows, an England row, LA rows, and footnote rows below.

Regenerate the committed fixtures with `python -m tests.formats.s251`.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd

from analysis.importers.s251 import load_la_codes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "s251"

EES_COLUMNS = [
    "time_period", "time_identifier", "geographic_level", "country_name", "country_code", "region_name",
    "region_code", "la_name", "old_la_code", "new_la_code", "category_of_expenditure",
    "description_of_expenditure", "own_provision", "private_provision", "other_public_sector_provision",
    "voluntary_provision", "total_expenditure", "income", "net_current_expenditure", "grants_inside_AEF",
    "grants_outside_AEF", "net_revenue_expenditure", "per_capita_net_current_spend",
]
EES_CENTRE_LINES = [
    "3.0.1 Spend on individual Sure Start Childrens Centres",
    "3.0.2 Spend for services delivered through Sure Start Childrens Centres",
    "3.0.3 Spend on management costs relating to Sure Start Childrens Centres",
    "3.0.4 Other spend on children under 5",
    "3.0.5 Total Sure Start childrens centres and other spend on children under 5",
]
EES_OTHER_LINES = [  # (category, description, only total/income/net published: the rest are x)
    ("Children looked after", "3.1.1 Residential care", False),
    ("Youth justice", "3.6.1 Youth justice", True),
    ("Total", "5.0.2 Total Children and Young Peoples Services Expenditure (excluding CERA)", True),
]
# 2013-14 wording of the LA-level data (line numbers 1-5 are the children's-centre block that year).
WORKBOOK_CENTRE_LINES = [
    "1 Spend by individual Sure Start Children's Centres ",
    "2 Spend on local authority provided or commissioned area-wide services delivered through Sure Start "
    "Children\u2019s Centres",
    "3 Spend on local authority management costs relating to sure Start Children's Centres",
    "4 Other early years expenditure",
    "5 Total Sure Start Children's Centres",
]
WORKBOOK_OTHER_LINE = ("6 Residential care", "CHILDREN LOOKED AFTER")
REPORT_GROUP = "SURE START CHILDREN'S CENTRES AND EARLY YEARS"
WORKBOOK_HEADINGS = [
    "LA", "LA Name", "LineNumber", "CYPServiceDescription", "ReportGroup", "OwnProvision", "PrivateProvision",
    "OtherPublic", "Voluntary", "TotalExpenditure", "Income", "NetCurrentExpenditure", "GovGrantsInsideAEF",
    "GovGrantsOutsideAEF", "LEANetRevenueExpenditure",
]
WORKBOOK_FOOTNOTES = [
    "Source: section 251 outturn returns",
    "1. Figures are as reported by local authorities.",
    "x = not available",
]
REGIONS = {  # first digit groups of DfE LA numbers -> a plausible region for the synthetic rows
    "2": ("Inner London", "E13000001"), "3": ("Outer London", "E13000002"),
}


def _columns(net: Decimal | None, share: int) -> dict | None:
    """Plausible provision, income and net columns of one line whose net current expenditure is `net`."""
    if net is None:
        return None
    income = (net * Decimal(share) / 100).quantize(Decimal("1"))
    total = net + income
    private = (total * Decimal("0.12")).quantize(Decimal("1"))
    other_public = (total * Decimal("0.03")).quantize(Decimal("1"))
    voluntary = (total * Decimal("0.05")).quantize(Decimal("1"))
    own = total - private - other_public - voluntary
    return {"own_provision": own, "private_provision": private, "other_public_sector_provision": other_public,
            "voluntary_provision": voluntary, "total_expenditure": total, "income": income,
            "net_current_expenditure": net}


def _lines(net_301: Decimal | None, seed: int) -> list[dict | None]:
    """Columns of lines 3.0.1 to 3.0.5 for one LA-year; 3.0.1 unreported -> the total is unreported too."""
    others = [Decimal(40_000 + 7_919 * ((seed * k) % 13)) for k in (1, 2, 3)]
    lines = [_columns(net_301, 10)] + [_columns(v, 5 + k) for k, v in enumerate(others)]
    if lines[0] is None:
        return lines + [None]
    total = {c: sum(line[c] for line in lines) for c in lines[0]}
    return lines + [total]


def _spend(value) -> Decimal | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value).strip() == "":
        return None
    return Decimal(str(value).replace("£", "").replace(",", ""))


def _la_identity(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """la_code -> (LA number, LA name), from the frame's own columns or else the lookup."""
    lookup = load_la_codes()
    current = lookup[lookup["gss_code"] != ""].set_index("gss_code")
    identity = {}
    for _, row in frame.drop_duplicates("la_code").iterrows():
        code = row["la_code"]
        number = str(row["la_number"]) if "la_number" in frame and pd.notna(row.get("la_number")) else ""
        name = str(row["la_name"]) if "la_name" in frame and pd.notna(row.get("la_name")) else ""
        if code in current.index:
            number = number or current.at[code, "la_number"]
            name = name or current.at[code, "la_name"]
        identity[code] = (number, name or f"Local authority {code}")
    return identity


def _text(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else f"{value:.2f}"


def write_s251_ees_csv(frame: pd.DataFrame, path: Path) -> None:
    """The EES CSV of section 251 outturn (children's and young people's services) holding `frame`."""
    identity = _la_identity(frame)
    records = []
    for year, year_rows in frame.groupby("financial_year", sort=True):
        period = year.replace("-", "")[:4] + year[-2:]
        by_la = {r["la_code"]: _lines(_spend(r["spend_gbp"]), k + 3)
                 for k, (_, r) in enumerate(year_rows.iterrows())}
        common = [period, "Financial year"]
        # England: the sum of the LA lines where every LA reported; x where one did not.
        for index, description in enumerate(EES_CENTRE_LINES):
            values = [lines[index] for lines in by_la.values()]
            summed = None if any(v is None for v in values) else {
                c: sum(v[c] for v in values) for c in values[0]}
            records.append(common + ["National", "England", "E92000001", "", "", "", "", "",
                                     "Sure Start and children aged under 5", description, *_values(summed)])
        region = sorted({REGIONS.get(identity[c][0][:1], ("South East", "E12000008")) for c in by_la})[0]
        records.append(common + ["Regional", "England", "E92000001", region[0], region[1], "", "", "",
                                 "Sure Start and children aged under 5", EES_CENTRE_LINES[0], *_values(None)])
        for code, lines in by_la.items():
            number, name = identity[code]
            region_name, region_code = REGIONS.get(number[:1], ("South East", "E12000008"))
            place = ["Local authority", "England", "E92000001", region_name, region_code, name, number, code]
            for description, columns in zip(EES_CENTRE_LINES, lines, strict=True):
                records.append(common + place + ["Sure Start and children aged under 5", description,
                                                 *_values(columns)])
            for category, description, headline_only in EES_OTHER_LINES:
                columns = _columns(Decimal(1_250_000 + 1_000 * int(number or 0)), 4)
                values = _values(columns)
                if headline_only:  # DfE publishes only total, income and net for these lines
                    values = ["x"] * 4 + values[4:7] + ["x"] * 3 + values[10:]
                records.append(common + place + [category, description, *values])
    pd.DataFrame(records, columns=EES_COLUMNS).to_csv(path, index=False, lineterminator="\n")


def _values(columns: dict | None) -> list[str]:
    """The twelve value columns from own_provision to per_capita_net_current_spend, x where unreported."""
    if columns is None:
        return ["x"] * 11
    grants_inside = (columns["net_current_expenditure"] * Decimal("0.02")).quantize(Decimal("1"))
    net_revenue = columns["net_current_expenditure"] - grants_inside
    per_capita = (columns["net_current_expenditure"] / Decimal(40_000)).quantize(Decimal("1"))
    return [_text(columns[c]) for c in ("own_provision", "private_provision", "other_public_sector_provision",
                                        "voluntary_provision", "total_expenditure", "income",
                                        "net_current_expenditure")] + [
        _text(grants_inside), "0", _text(net_revenue), _text(per_capita)]


def write_s251_workbook(frame: pd.DataFrame, year: str, path: Path, *, unit: str = "pounds",
                        money_as_text: bool = False) -> None:
    """A one-year .xlsx of LA-level s251 outturn data holding `frame`'s rows for `year`.

    unit: "pounds" or "thousands" (values divided by 1,000 and the title says "£ thousand").
    money_as_text: write amounts as text cells such as "£1,234,567", as some spreadsheets hold them.
    """
    import openpyxl

    rows = frame[frame["financial_year"] == year]
    identity = _la_identity(rows)
    divisor = Decimal(1000) if unit == "thousands" else Decimal(1)
    unit_words = "£ thousand" if unit == "thousands" else "£"

    def amount(value: Decimal):
        value = value / divisor
        if money_as_text:
            return f"£{value:,.2f}".replace(".00", "")
        return int(value) if value == value.to_integral_value() else float(value)

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Table A1"
    sheet.append([f"Section 251 outturn {year}: local authority expenditure on Sure Start children's centres "
                  f"and early years, by line ({unit_words})"])
    sheet.append(["England, local authorities"])
    sheet.append([])
    sheet.append(WORKBOOK_HEADINGS)
    england = _lines(sum((_spend(v) or Decimal(0) for v in rows["spend_gbp"]), Decimal(0)), 1)
    for index, (description, columns) in enumerate(zip(WORKBOOK_CENTRE_LINES, england, strict=True)):
        sheet.append([None, "England", index + 1, description, REPORT_GROUP,
                      *_workbook_values(columns, amount)])
    for k, (_, row) in enumerate(rows.iterrows()):
        number, name = identity[row["la_code"]]
        if not number:
            raise ValueError(f"{row['la_code']}: a workbook needs the LA number (give la_number)")
        lines = _lines(_spend(row["spend_gbp"]), k + 3)
        for index, (description, columns) in enumerate(zip(WORKBOOK_CENTRE_LINES, lines, strict=True)):
            sheet.append([int(number), name, index + 1, description, REPORT_GROUP,
                          *_workbook_values(columns, amount)])
        description, group = WORKBOOK_OTHER_LINE
        sheet.append([int(number), name, 6, description, group,
                      *_workbook_values(_columns(Decimal(2_000_000 + int(number)), 3), amount)])
    sheet.append([])
    for note in WORKBOOK_FOOTNOTES:
        sheet.append([note])
    notes = book.create_sheet("Notes")
    notes.append(["Section 251 outturn: notes"])
    notes.append(["Figures are in the units stated in each table title."])
    book.save(path)


def _workbook_values(columns: dict | None, amount) -> list:
    if columns is None:
        return ["x"] * 10
    order = ("own_provision", "private_provision", "other_public_sector_provision", "voluntary_provision",
             "total_expenditure", "income", "net_current_expenditure")
    values = [amount(columns[c]) for c in order]
    return values + [amount(Decimal(0)), amount(Decimal(0)), amount(columns["net_current_expenditure"])]


# ---- the committed fixtures ------------------------------------------------------------------------------

FIXTURE_YEARS = ("2012-13", "2013-14")


def fixture_frame() -> pd.DataFrame:
    """Synthetic spend for a handful of LAs, including pence, a merger and a split (see SOURCE.md)."""
    rows = []
    amounts = {
        "E09000007": ("4141589", "3924019.11"),  # Camden, 202
        "E08000025": ("29838572", "28100000"),  # Birmingham, 330
        "E06000028": ("2576718", "2490000"),  # Bournemouth, 837 (merged into BCP in 2019)
        "E06000029": ("1445593", ""),  # Poole, 836: 2013-14 not reported
        "E10000002": ("1702792", "1650000.5"),  # Buckinghamshire county, 825 (unitary 2020: new code)
        "E10000021": ("175711", "220000"),  # Northamptonshire, 928 (divided 2021)
    }
    for code, values in amounts.items():
        for year, value in zip(FIXTURE_YEARS, values, strict=True):
            rows.append({"la_code": code, "financial_year": year, "spend_gbp": value})
    return pd.DataFrame(rows)


FIXTURE_FILES = {
    "ees": "s251_childrens_young_peoples_services_la_regional_national.csv",
    "workbook_pounds": "s251_2013-14.xlsx",
    "workbook_thousands": "s251_2012-13.xlsx",
}


def write_fixtures(folder: Path = FIXTURES) -> None:
    frame = fixture_frame()
    folder.mkdir(parents=True, exist_ok=True)
    write_s251_ees_csv(frame, folder / FIXTURE_FILES["ees"])
    write_s251_workbook(frame, "2013-14", folder / FIXTURE_FILES["workbook_pounds"], money_as_text=True)
    write_s251_workbook(frame, "2012-13", folder / FIXTURE_FILES["workbook_thousands"], unit="thousands")


if __name__ == "__main__":
    write_fixtures(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES)
