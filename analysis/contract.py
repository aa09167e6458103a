"""The raw-data contract: the CSV files, their columns and what each column may hold.

Two exposure levels (the plan's exposure.level) read different files: "centre" (ECCE-style data with
centre budgets) reads centres.csv, centre_funding.csv, deflators.csv and survey.csv; "la" (budgets known only
per local authority, such as the section 251 returns) reads la_funding.csv in place of centre_funding.csv,
centres.csv only when the survey names centres, and a survey that may carry la_code in place of centre_id.

data/raw/README.md documents the same contract for data managers; tests/test_contract_doc.py keeps the two
in step. Column kinds are parsed by analysis.cleaning.
"""

from __future__ import annotations

from dataclasses import dataclass

# Survey codes meaning "no answer": -9 refused, -8 don't know, -1 not asked.
MISSING_CODES = ("-9", "-8", "-1")

LA_CODE_PATTERN = r"^E(06|08|09|10)[0-9]{6}$"

# GDP deflator: an index whose base year is 100. Outside these bounds a value is a typing error or a different
# kind of number (a rate, a ratio with base 1); from one financial year to the next it may not change by more
# than this fraction (a GDP deflator moves a few per cent a year).
DEFLATOR_LOW, DEFLATOR_HIGH = 1, 1000
DEFLATOR_MAX_YEARLY_CHANGE = 0.5

# Budgets must be below this many pounds: larger amounts are no centre's budget, and a 64-bit float holds
# every amount below it to the penny.
MONEY_LIMIT = 1_000_000_000_000


@dataclass(frozen=True)
class Column:
    """One column of a raw file.

    kind: id | text | la_code | code (whole number in [low, high]) | number (in [low, high]) |
          money | financial_year | date | category (one of `levels`). How each kind is read, character by
          character, is in analysis.cleaning and data/raw/README.md ("Cleaning rules").
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    levels: tuple[str, ...] = ()
    required: bool = True  # False: the column may be absent from the file
    nullable: bool = False  # True: a blank (or, in the survey, a missing code) is allowed
    low_exclusive: bool = False  # True: values must be above `low`, not equal to it


@dataclass(frozen=True)
class RawFile:
    name: str
    columns: tuple[Column, ...]
    missing_codes: tuple[str, ...] = ()  # codes read as missing in nullable columns

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


K6_ITEMS = tuple(f"k6_{i}" for i in range(1, 7))
GHQ_ITEMS = tuple(f"ghq_{c}" for c in "abcdefghijkl")

CENTRES = RawFile(
    "centres.csv",
    (
        Column("centre_id", "id"),
        Column("centre_name", "text"),
        Column("la_code", "la_code"),
        Column("la_name", "text"),
        # Blank allowed: the published register (GIAS) carries neither; a model using idaci_decile then
        # excludes, and counts, mothers at centres without it.
        Column("phase", "code", 1, 3, nullable=True),
        Column("idaci_decile", "code", 1, 10, nullable=True),
        Column("urban_rural", "category", levels=("urban", "rural")),
    ),
)

CENTRE_FUNDING = RawFile(
    "centre_funding.csv",
    (
        Column("centre_id", "id"),
        Column("financial_year", "financial_year"),
        Column("budget_gbp", "money", nullable=True),
        Column("services_offered", "code", 0, 1000, required=False, nullable=True),
    ),
)

# Budgets known only per local authority (exposure.level: la): its spend on children's centres by financial
# year, as section 251 reports it (analysis.importers.s251 writes this file from DfE's releases).
LA_FUNDING = RawFile(
    "la_funding.csv",
    (
        Column("la_code", "la_code"),
        Column("financial_year", "financial_year"),
        Column("spend_gbp", "money", nullable=True),
    ),
)

DEFLATORS = RawFile(
    "deflators.csv",
    (
        Column("financial_year", "financial_year"),
        Column("gdp_deflator", "number", DEFLATOR_LOW, DEFLATOR_HIGH),
    ),
)

SURVEY = RawFile(
    "survey.csv",
    (
        Column("mother_id", "id"),
        Column("wave", "code", 1, 3),
        Column("interview_date", "date", nullable=True),
        Column("centre_id", "id"),
        *(Column(item, "code", 1, 5, nullable=True) for item in K6_ITEMS),
        *(Column(item, "code", 1, 4, nullable=True) for item in GHQ_ITEMS),
        Column("mother_age", "number", 12, 65, nullable=True),
        Column("mother_education", "code", 1, 4, nullable=True),
        Column("ethnicity", "code", 1, 6, nullable=True),
        Column("lone_parent", "code", 0, 1, nullable=True),
        Column("income_band", "code", 1, 5, nullable=True),
        Column("workless", "code", 0, 1, nullable=True),
        Column("child_sex", "code", 1, 2, nullable=True),
        Column("child_age_months", "number", 0, 72, nullable=True),
        Column("centre_visits_month", "code", 0, 100, nullable=True),
    ),
    missing_codes=MISSING_CODES,
)

# At LA level a mother's local authority may be given directly, in place of (or beside) her centre.
SURVEY_LA = RawFile(
    SURVEY.name,
    tuple(
        Column("centre_id", "id", required=False, nullable=True) if c.name == "centre_id" else c
        for c in SURVEY.columns
    ) + (Column("la_code", "la_code", required=False, nullable=True),),
    missing_codes=MISSING_CODES,
)

# Columns of centres.csv a survey record carries at LA level, where no centre table is joined later.
CENTRE_CHARACTERISTICS = ("idaci_decile", "urban_rural")

EXPOSURE_LEVELS = ("centre", "la")
RAW_FILES = (CENTRES, CENTRE_FUNDING, DEFLATORS, SURVEY)  # exposure.level: centre
LA_RAW_FILES = (CENTRES, LA_FUNDING, DEFLATORS, SURVEY_LA)  # exposure.level: la (centres.csv optional)


# Money columns of each file (written to the penny by the import stage).
MONEY_COLUMNS = {spec.name: tuple(c.name for c in spec.columns if c.kind == "money")
                 for spec in (CENTRES, CENTRE_FUNDING, LA_FUNDING, DEFLATORS, SURVEY)}


def raw_files(level: str = "centre") -> tuple[RawFile, ...]:
    """The contract files read at this exposure level."""
    return LA_RAW_FILES if level == "la" else RAW_FILES
