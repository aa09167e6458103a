"""Writes a deflators frame in the layout of HM Treasury's "GDP deflators at market prices, and money GDP".

Layout (tests/fixtures/import/hmt/SOURCE.md): title and note rows, a row naming the two blocks, a row naming
the measures, the header row, then one row per year; the financial-year block (year, index, per cent
change, money GDP not seasonally adjusted and seasonally adjusted), a blank column, the calendar-year block.
In a workbook the table starts in column B, in the CSV in column A. Money GDP and the calendar-year block
are synthetic fillers derived from the index; footnote rows follow the series.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pandas as pd

TITLE = "GDP DEFLATORS AT MARKET PRICES, AND MONEY GDP"
FOOTNOTES = [
    "(1) Forecast years: consistent with the OBR's latest forecast.",
    "(3) Money GDP: ONS series BKTL (non-seasonally adjusted) and YBHA (seasonally adjusted).",
    "Source: ONS, OBR, HM Treasury.",
]


def hmt_rows(
    deflators: pd.DataFrame, vintage: str, *, title_names_vintage: bool = True, marked_years: int = 0
) -> list[list]:
    """The sheet as rows of cells (None = empty). deflators: financial_year, gdp_deflator (base = 100 in the
    year where it equals 100, else the last year). marked_years: how many final years carry ' (1)'."""
    years = list(deflators["financial_year"])
    values = [float(value) for value in deflators["gdp_deflator"]]
    base = next(
        (year for year, value in zip(years, values, strict=True) if abs(value - 100) < 1e-9), years[-1]
    )
    title = f"GDP deflators at market prices, and money GDP: {vintage}" if title_names_vintage else TITLE
    rows = [
        [title],
        [],
        ["Outturn data are the latest Quarterly National Accounts figures from ONS (synthetic fixture)."],
        [f"Forecast data are consistent with the OBR forecast of {vintage} (synthetic fixture)."],
        ["Financial year", None, None, None, None, None, "Calendar year"],
        [
            None,
            "GDP deflator at market prices",
            None,
            "Money GDP (3), (4)",
            None,
            None,
            None,
            "GDP deflator at market prices",
            None,
            "Money GDP (3)",
        ],
        [
            "Financial year",
            f"{base} = 100",
            "per cent change on previous year",
            "Cash £ million Non-Seasonally Adjusted",
            "Cash £ million Seasonally Adjusted",
            None,
            "Calendar year",
            f"{base[:4]} = 100",
            "per cent change on previous year",
            "Cash £ million Non-Seasonally Adjusted",
        ],
    ]
    for position, (year, value) in enumerate(zip(years, values, strict=True)):
        change = None if position == 0 else round((value / values[position - 1] - 1) * 100, 2)
        label = year + (" (1)" if position >= len(years) - marked_years else "")
        money = round(value * 25_000)
        rows.append(
            [
                label,
                round(value, 3),
                change,
                money,
                money + 13,
                None,
                int(year[:4]),
                round(value * 0.995, 3),
                change,
                money - 400,
            ]
        )
    rows += [[], *([note] for note in FOOTNOTES)]
    return rows


def write_hmt_deflators(
    deflators: pd.DataFrame,
    path: Path,
    vintage: str,
    *,
    title_names_vintage: bool = True,
    marked_years: int = 0,
) -> Path:
    """Write the release as .xlsx (table from column B, sheet 'GDP deflators') or .csv (from column A)."""
    path = Path(path)
    rows = hmt_rows(deflators, vintage, title_names_vintage=title_names_vintage, marked_years=marked_years)
    if path.suffix.lower() == ".xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "GDP deflators"
        for row in rows:
            sheet.append([None, *row])
        book.save(path)
    else:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\r\n").writerows(
            [["" if cell is None else cell for cell in row] for row in rows]
        )
        path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# ---- the committed fixtures (tests/fixtures/import/hmt/) --------------------------------------------------

XLSX_FIXTURE = "GDP_Deflators_Qtrly_National_Accounts_March_2024_update.xlsx"
CSV_FIXTURE = "GDP_Deflators_Qtrly_National_Accounts_March_2024_update.csv"


def fixture_deflators() -> pd.DataFrame:
    """Synthetic index, 2005-06 to 2028-29, 100 in 2022-23 (the last two years stand for OBR forecasts)."""
    years = [f"{year}-{(year + 1) % 100:02d}" for year in range(2005, 2029)]
    growth = [
        1.021,
        1.027,
        1.030,
        1.018,
        1.012,
        1.020,
        1.016,
        1.019,
        1.018,
        1.012,
        1.009,
        1.021,
        1.019,
        1.022,
        1.024,
        1.051,
        0.998,
        1.053,
        1.031,
        1.022,
        1.020,
        1.019,
        1.020,
    ]
    index = [1.0]
    for factor in growth:
        index.append(index[-1] * factor)
    base = index[years.index("2022-23")]
    return pd.DataFrame(
        {"financial_year": years, "gdp_deflator": [round(value / base * 100, 3) for value in index]}
    )


def write_fixtures(folder: Path) -> None:
    folder = Path(folder)
    deflators = fixture_deflators()
    write_hmt_deflators(deflators, folder / XLSX_FIXTURE, "March 2024", marked_years=2)
    write_hmt_deflators(deflators, folder / CSV_FIXTURE, "March 2024", title_names_vintage=False)


if __name__ == "__main__":  # python -m tests.formats.hmt tests/fixtures/import/hmt
    import sys

    write_fixtures(Path(sys.argv[1]))
