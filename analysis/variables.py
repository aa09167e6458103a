"""The variable registry: every variable of the analysis data, once.

For each variable: its role, the raw-data contract column it is made from and how (a named derivation), its
kind and range (read from the contract column, never restated here), and its words: a short label for tables
and figures and a definition for the appendix and Table 1 (with other words at LA-level exposure where the
meaning changes).

Everything else reads from here: the sample builder derives the baseline covariates through
`Variable.derive` (analysis.sample), the plan checks accept as covariates exactly the registry's covariates
and take coded levels from it (analysis.plan), the appendix and Table 1 take their definitions
(analysis.appendix, analysis.balance) and score labels come from it (analysis.labels).
tests/test_contract_doc.py checks data/raw/README.md documents each source column as the contract bounds
it, and the value each indicator marks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.contract import CENTRES, SURVEY, Column, RawFile

# Roles. Covariates are measured on the mother (a survey column at the baseline wave) or are a characteristic
# of her centre (centres.csv; at LA level carried on her survey record). Design variables (identifiers,
# clusters, the exposure) are made by analysis.exposure, scores from their items by analysis.scoring, and 0/1
# scores from a score by the plan's primary_sample.binary_scores.
MOTHER, CENTRE, DESIGN, SCORE, BINARY_SCORE = "mother", "centre", "design", "score", "binary score"
COVARIATE_ROLES = (MOTHER, CENTRE)
SOURCE_FILE = {MOTHER: SURVEY, CENTRE: CENTRES}


def as_recorded(values: pd.Series) -> pd.Series:
    """The contract column as cleaned: the variable is the column itself."""
    return values


def indicator(values: pd.Series, marked) -> pd.Series:
    """1 where `values` equals `marked`, 0 where it holds another value, missing where it is missing."""
    return (values == marked).astype("Int64").where(values.notna())


@dataclass(frozen=True)
class Variable:
    """One variable of the analysis data.

    source: for a covariate, the contract column it is made from (survey.csv for a mother's, centres.csv for
    a centre's); `marks`: for a 0/1 indicator, the source value it marks (None: the variable is the column as
    recorded), with `source_words`, how data/raw/README.md describes that value. `la_definition`: the
    definition at LA-level exposure (exposure.level: la) where the meaning changes there.
    """

    name: str
    role: str
    label: str
    definition: str
    source: str | None = None
    marks: int | str | None = None
    source_words: str = ""
    la_definition: str = ""

    @property
    def source_file(self) -> RawFile | None:
        return SOURCE_FILE.get(self.role)

    @property
    def column(self) -> Column | None:
        """The contract column this variable is made from (None: not made from one contract column)."""
        if self.source is None:
            return None
        return next(c for c in self.source_file.columns if c.name == self.source)

    @property
    def derivation(self) -> str:
        """How the variable is made, in words (the appendix and config comments point here)."""
        if self.column is None:
            return f"made by the pipeline ({self.role})"
        where = f"{self.source_file.name} column {self.source}"
        if self.marks is None:
            return f"{where}, as recorded"
        return f"1 when {where} is {self.marks!r} ({self.source_words}), 0 otherwise, missing where it is"

    @property
    def levels(self) -> tuple | None:
        """The values a coded variable can take: 0/1 for an indicator, the contract's whole numbers for a code
        column; None for a measurement, or a variable made from no contract column."""
        column = self.column
        if column is None:
            return None
        if self.marks is not None:
            return (0, 1)
        if column.kind == "code":
            return tuple(range(int(column.low), int(column.high) + 1))
        return None

    def derive(self, source_values: pd.Series) -> pd.Series:
        """The variable from its source column's cleaned values."""
        if self.marks is None:
            return as_recorded(source_values)
        return indicator(source_values, self.marks)

    def words(self, exposure_level: str = "centre") -> str:
        """The definition, in the words of this exposure level."""
        return self.la_definition if exposure_level == "la" and self.la_definition else self.definition


REGISTRY = (
    # Design: identifiers, clusters and the exposure (analysis.exposure).
    Variable("mother_id", DESIGN, "Mother", "Mother's identifier (pseudonymous)."),
    Variable("centre_id", DESIGN, "Centre",
             "Children's centre the mother was registered at when first interviewed (wave 1).",
             la_definition="Children's centre the mother was registered at when first interviewed "
                           "(wave 1); where her record names none, the group of mothers in her local "
                           "authority who name none."),
    Variable("la_code", DESIGN, "Local authority",
             "Local authority of that centre (ONS code): the level at which budgets were decided.",
             la_definition="Mother's local authority when first interviewed (ONS code): the level at which "
                           "budgets were decided, and whose spend is her exposure."),
    Variable("funding_group", DESIGN, "Funding group",
             "Centre's funding group from its real-terms budget change over the exposure window: cut, stable "
             "or growing (thresholds in the configuration).",
             la_definition="Local authority's funding group from its real-terms change in spend on "
                           "children's centres (la_funding.csv, e.g. section 251 line 3.0.1) over the "
                           "exposure window: cut, stable or growing (thresholds in the configuration)."),
    Variable("budget_change_pct", DESIGN, "Real-terms budget change (%)",
             "Centre's real-terms budget change over the exposure window, per cent: 100 x (real end budget / "
             "real base budget - 1); real = nominal / GDP deflator x 100.",
             la_definition="Local authority's real-terms change in spend on children's centres over the "
                           "exposure window, per cent: 100 x (real end spend / real base spend - 1); real = "
                           "nominal / GDP deflator x 100."),
    # Scores, made from their items (analysis.scoring; data/raw/README.md "Scores").
    Variable("k6", SCORE, "K6 psychological distress (0-24, higher = more distress)",
             "Kessler K6 psychological distress, 0-24 (sum of six items rescored 0-4; higher = more "
             "distress; prorated when one item is missing)."),
    Variable("ghq_likert", SCORE, "GHQ-12 Likert score (0-36, higher = more distress)",
             "GHQ-12 Likert score, 0-36 (twelve items scored 0-3; higher = more distress)."),
    Variable("ghq_caseness", SCORE, "GHQ-12 caseness count (0-12, higher = more distress)",
             "GHQ-12 caseness score, 0-12: items answered in the distress range."),
    # 0/1 outcomes made from a score (primary_sample.binary_scores), by the names the shipped plan gives them.
    Variable("ghq_case", BINARY_SCORE, "GHQ-12 caseness (4 or more of 12 items)",
             "GHQ-12 case: 1 when the caseness score is 4 or more."),
    Variable("k6_serious", BINARY_SCORE, "serious psychological distress (K6 of 13 or more)",
             "Serious psychological distress: 1 when K6 is 13 or more (Kessler et al. 2003's cut-off)."),
    # The mother's covariates, from survey.csv at the baseline wave.
    Variable("mother_age", MOTHER, "Mother's age (years)", "Mother's age in years at wave 1.",
             source="mother_age"),
    Variable("mother_education", MOTHER, "Highest qualification",
             "Highest qualification: 1 none, 2 GCSE, 3 A-level, 4 degree (categorical).",
             source="mother_education"),
    Variable("ethnicity", MOTHER, "Ethnicity",
             "Ethnicity: 1 White British, 2 other White, 3 Asian, 4 Black, 5 Mixed, 6 other (a code).",
             source="ethnicity"),
    Variable("white_british", MOTHER, "White British",
             "1 when ethnicity is White British (survey code 1), else 0.",
             source="ethnicity", marks=1, source_words="1 White British"),
    Variable("lone_parent", MOTHER, "Lone parent", "1 when the mother is a lone parent.",
             source="lone_parent"),
    Variable("income_band", MOTHER, "Household income band (1-5)",
             "Household income band 1-5 (entered as a number).", source="income_band"),
    Variable("workless", MOTHER, "Workless household", "1 when no adult in the household is in paid work.",
             source="workless"),
    Variable("child_sex", MOTHER, "Child's sex", "Child's sex: 1 male, 2 female.", source="child_sex"),
    Variable("child_female", MOTHER, "Child is a girl", "1 when the child is a girl.",
             source="child_sex", marks=2, source_words="2 female"),
    Variable("child_age_months", MOTHER, "Child's age (months)", "Child's age in months at wave 1.",
             source="child_age_months"),
    Variable("centre_visits_month", MOTHER, "Centre visits last month",
             "Mother's visits to the centre in the last month.", source="centre_visits_month"),
    # Characteristics of the mother's centre, from centres.csv (at LA level, carried on her survey record).
    Variable("idaci_decile", CENTRE, "Centre's IDACI decile (1 = most deprived)",
             "Centre's Income Deprivation Affecting Children Index decile (1 = most deprived).",
             source="idaci_decile"),
    Variable("rural", CENTRE, "Rural centre", "1 when the centre is rural.",
             source="urban_rural", marks="rural", source_words="`rural`"),
)
VARIABLES = {variable.name: variable for variable in REGISTRY}

COVARIATES = {name: v for name, v in VARIABLES.items() if v.role in COVARIATE_ROLES}
# Mother's covariates made from another survey column (the sample builder adds them to each survey record).
SURVEY_DERIVED = {name: v for name, v in COVARIATES.items() if v.role == MOTHER and v.source != name}
# Characteristics of the mother's centre, read from her centre (or, at LA level, from her survey record).
CENTRE_VARIABLES = {name: v for name, v in COVARIATES.items() if v.role == CENTRE}
SCORE_NAMES = tuple(name for name, v in VARIABLES.items() if v.role == SCORE)
BINARY_SCORE_NAMES = tuple(name for name, v in VARIABLES.items() if v.role == BINARY_SCORE)


def coded_levels(name: str) -> set | None:
    """The levels a coded covariate can take (from the raw-data contract), or None if it is not coded."""
    variable = VARIABLES.get(name)
    levels = variable.levels if variable is not None else None
    return set(levels) if levels is not None else None
