"""The STROBE checklist for cohort studies, item by item, mapped to the output that answers it.

STROBE: von Elm E, Altman DG, Egger M, Pocock SJ, Gøtzsche PC, Vandenbroucke JP. The Strengthening the
Reporting of Observational Studies in Epidemiology (STROBE) statement: guidelines for reporting
observational studies. Lancet 2007;370:1453-7; checklist of items for cohort studies (version 4,
https://www.strobe-statement.org). The item numbers and topics are the checklist's; each item's content is
summarised here in a few words, not quoted: read the checklist itself for its wording.

Each item is either answered by outputs of the pipeline (a file under results/, and where the file has
sections, the heading of the one that answers it) or marked not applicable with the reason. Items about the
manuscript's own prose (background, discussion, funding) are the authors': the pipeline cannot write them,
and says so. tests/test_strobe.py checks that the list is the checklist's and, on a pipeline run, that every
output and heading named exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.results import latex_escape

REPORT = "results/report/report.html"
APPENDIX = "results/report/appendix.md"


@dataclass(frozen=True)
class Output:
    """An output that answers an item: a file, and the heading of its section that does (or None)."""

    path: str
    heading: str | None = None

    def words(self) -> str:
        return f"{self.path} ('{self.heading}')" if self.heading else self.path

    def for_roles(self, roles: dict) -> Output | None:
        """This output with a model role in its path (role_table) replaced by the model playing it; None
        when the plan gives the role to no model, so the run has no such output."""
        role = self.path.partition("{")[2].partition("}")[0]
        if not role:
            return self
        return None if roles.get(role) is None else Output(self.path.replace(f"{{{role}}}", roles[role]),
                                                           self.heading)


# The model roles an item may point to (model_roles, and few_clusters.model), as the shipped plan gives them;
# the appendix passes the run's own.
ROLES = {"primary": "primary", "few_clusters": "primary_ols_cr2", "dose_curve": "dose_spline"}


def table(name: str) -> Output:
    return Output(f"results/tables/{name}.csv")


def role_table(role: str) -> Output:
    """The result table of the model playing `role` in this run's plan (model_roles)."""
    return Output(f"results/tables/{{{role}}}.csv")


def figure(name: str) -> Output:
    return Output(f"results/figures/{name}.png")


def report(heading: str | None = None) -> Output:
    return Output(REPORT, heading)


def appendix(heading: str) -> Output:
    return Output(APPENDIX, heading)


@dataclass(frozen=True)
class Item:
    item: str  # the checklist's number, e.g. "12c"
    section: str  # Title and abstract, Introduction, Methods, Results, Discussion, Other information
    topic: str
    asks: str  # the item's content in a few words (the checklist has the wording)
    answered_by: tuple[Output, ...] = ()
    not_applicable: str = ""  # why, when nothing in the pipeline's outputs can answer it

    def outputs(self, roles: dict | None = None) -> list[Output]:
        """The outputs answering it in a run whose plan gives these model roles."""
        resolved = (output.for_roles(roles or ROLES) for output in self.answered_by)
        return [output for output in resolved if output is not None]

    def where(self, roles: dict | None = None) -> str:
        if self.not_applicable:
            return f"Not applicable: {self.not_applicable}"
        return "; ".join(output.words() for output in self.outputs(roles))


MANUSCRIPT = "the manuscript's own prose, which the authors write; the pipeline cannot"
MODELS = appendix("Model specifications")
VARIABLES = appendix("Variable definitions")
WHO = report("Who is in the analysis")
ROBUST = report("How robust is the headline?")

CHECKLIST = (
    Item("1a", "Title and abstract", "Title and abstract", "the design named in the title or abstract",
         not_applicable=f"{MANUSCRIPT}. The report's title names the question and its opening summary the "
                        "comparison of mothers followed from the first to the follow-up interview"),
    Item("1b", "Title and abstract", "Title and abstract", "an informative, balanced abstract",
         (report(),)),
    Item("2", "Introduction", "Background/rationale", "scientific background and rationale",
         not_applicable=MANUSCRIPT),
    Item("3", "Introduction", "Objectives", "objectives and pre-specified hypotheses",
         (MODELS, appendix("Deviations from the frozen analysis plan"), table("plan_deviations"))),
    Item("4", "Methods", "Study design", "key elements of the design, early",
         (MODELS, WHO)),
    Item("5", "Methods", "Setting", "setting, locations and dates (recruitment, exposure, follow-up)",
         (table("funding_groups"), table("distress_by_wave"),
          appendix("Configuration that produced these results"))),
    Item("6a", "Methods", "Participants", "eligibility, sources and selection; methods of follow-up",
         (table("sample_flow"), WHO)),
    Item("6b", "Methods", "Participants", "matching criteria and numbers exposed and unexposed",
         not_applicable="the design is not matched: every eligible mother is compared, adjusted by "
                        "regression"),
    Item("7", "Methods", "Variables", "outcomes, exposures, confounders and modifiers defined",
         (VARIABLES, table("funding_groups"), MODELS)),
    Item("8", "Methods", "Data sources/measurement", "sources and measurement of each variable",
         (VARIABLES, table("cleaning_log"), Output("results/provenance.json"))),
    Item("9", "Methods", "Bias", "efforts to address sources of bias",
         (table("covariate_balance"), figure("covariate_balance"), table("inverse_probability_weighting"),
          table("multiple_imputation"), table("difference_in_differences"), table("effect_size"))),
    Item("10", "Methods", "Study size", "how the study size was arrived at",
         (table("sample_flow"), WHO)),
    Item("11", "Methods", "Quantitative variables", "handling of quantitative variables and groupings",
         (table("funding_groups"), table("dose_linear"), role_table("dose_curve"), MODELS)),
    Item("12a", "Methods", "Statistical methods", "all methods, including control of confounding",
         (MODELS, role_table("primary"))),
    Item("12b", "Methods", "Statistical methods", "subgroups and interactions",
         not_applicable="the plan specifies no subgroup or interaction analysis (add one as a model in the "
                        "plan, and it is reported like the others)"),
    Item("12c", "Methods", "Statistical methods", "how missing data were addressed",
         (table("missing_patterns"), table("multiple_imputation"), table("sample_flow"))),
    Item("12d", "Methods", "Statistical methods", "how loss to follow-up was addressed",
         (table("inverse_probability_weighting"), table("multiple_imputation"))),
    Item("12e", "Methods", "Statistical methods", "sensitivity analyses",
         (table("leave_one_la_out"), table("specification_curve"), table("specification_joint_test"),
          role_table("few_clusters"), table("forest"), ROBUST)),
    Item("13a", "Results", "Participants", "numbers at each stage of the study",
         (table("sample_flow"), WHO)),
    Item("13b", "Results", "Participants", "reasons for non-participation at each stage",
         (table("sample_flow"),)),
    Item("13c", "Results", "Participants", "a flow diagram",
         (figure("sample_flow"),)),
    Item("14a", "Results", "Descriptive data", "characteristics of participants, exposures and confounders",
         (table("baseline_characteristics"), table("funding_groups"), figure("budget_change"))),
    Item("14b", "Results", "Descriptive data", "participants with missing data for each variable",
         (table("baseline_characteristics"), table("missing_patterns"))),
    Item("14c", "Results", "Descriptive data", "follow-up time",
         (table("distress_by_wave"), table("sample_flow"))),
    Item("15", "Results", "Outcome data", "outcome events or summary measures over time",
         (table("distress_by_wave"), figure("distress_by_wave"))),
    Item("16a", "Results", "Main results", "unadjusted and adjusted estimates with precision; confounders",
         (role_table("primary"), table("distress_by_wave"), table("specification_curve"), MODELS)),
    Item("16b", "Results", "Main results", "category boundaries of categorised continuous variables",
         (table("funding_groups"), figure("budget_change"))),
    Item("16c", "Results", "Main results", "relative risks translated into absolute risks",
         (table("ghq_caseness"), table("serious_distress"))),
    Item("17", "Results", "Other analyses", "subgroups, interactions and sensitivity analyses",
         (table("secondary_family"), table("dose_linear"), role_table("dose_curve"),
          table("difference_in_differences"), table("forest"), ROBUST)),
    Item("18", "Discussion", "Key results", "key results with reference to the objectives",
         (report(),)),
    Item("19", "Discussion", "Limitations", "limitations, bias and imprecision",
         not_applicable=f"{MANUSCRIPT}. The outputs supply the material: each table's design notes, the "
                        "report's robustness section and what each projection cannot say"),
    Item("20", "Discussion", "Interpretation", "a cautious overall interpretation",
         not_applicable=f"{MANUSCRIPT}. The report's summary says how sure the headline is"),
    Item("21", "Discussion", "Generalisability", "external validity",
         not_applicable=MANUSCRIPT),
    Item("22", "Other information", "Funding", "funding and the funders' role",
         not_applicable=f"{MANUSCRIPT}; the pipeline has no funder of its own"),
)


def checklist_table(roles: dict | None = None) -> pd.DataFrame:
    return pd.DataFrame([{"Item": item.item, "Section": item.section, "Topic": item.topic,
                          "Asks for": item.asks, "Where it is answered": item.where(roles)}
                         for item in CHECKLIST])


def outputs(roles: dict | None = None) -> list[Output]:
    """Every output an item names in a run whose plan gives these model roles, each once."""
    return list(dict.fromkeys(output for item in CHECKLIST for output in item.outputs(roles)))


INTRODUCTION = ("The STROBE checklist for cohort studies (von Elm et al. 2007, version 4), item by item: the "
                "output of this run that answers it, or why it does not apply. Items on the manuscript's "
                "own prose are the authors'.")


def strobe_markdown(roles: dict | None = None) -> str:
    return INTRODUCTION + "\n\n" + checklist_table(roles).to_markdown(index=False)


def strobe_latex(roles: dict | None = None) -> str:
    shown = checklist_table(roles).map(lambda value: latex_escape(str(value)))
    shown.columns = [latex_escape(c) for c in shown.columns]
    tabular = shown.style.hide(axis="index").to_latex(hrules=True, column_format="lllp{5cm}p{9cm}")
    return latex_escape(INTRODUCTION) + "\n\n" + tabular
