"""What a planned cut would mean, in words: the report's scenario section and the one-page brief for
councillors, filled in from the published scenario table (results/tables/scenarios.csv).

As in the report's summary (analysis.report), no number is typed by hand: each is a `Fact` naming its table
cell, so a test checks every number against the tables. An extrapolated projection never appears without
its mark and the observed range.
"""

from __future__ import annotations

import html

import pandas as pd

from analysis.report import FORMATS, Fact, figure_html
from analysis.results import SYNTHETIC_BANNER
from analysis.scenarios import MEAN_QUANTITY, SHARES

TABLE = "scenarios"


def _fact_maker(tables: dict[str, pd.DataFrame]):
    def fact(key: str, column: str, kind: str) -> str:
        return Fact(TABLE, "projection", key, column, kind).html(tables)

    return fact


def _key(row: pd.Series) -> str:
    return str(row["projection"])


def _rows(table: pd.DataFrame, scenario: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = table[table["scenario"] == scenario]
    return rows[rows["quantity"] == MEAN_QUANTITY], rows[rows["quantity"] != MEAN_QUANTITY]


def _interval(fact, key: str, kind: str) -> str:
    return (f"{fact(key, 'ci_level', 'level')}% interval {fact(key, 'ci_lower', kind)} to "
            f"{fact(key, 'ci_upper', kind)}")


def _model_words(model: str) -> str:
    return "a natural-spline model" if "spline" in model else "a straight-line model"


def change_sentence(table: pd.DataFrame, scenario: str, fact) -> str:
    """The plan and its real-terms equivalent."""
    means, shares = _rows(table, scenario)
    first = (means if len(means) else shares).iloc[0]
    key = _key(first)
    assumption = ""
    if bool(first["deflator_assumed"]):
        assumption = (f" (prices after {fact(key, 'deflator_series_end', 'text')} assumed to change by "
                      f"{fact(key, 'deflator_growth_beyond_pct', 'threshold')}% a year)")
    described = pd.notna(first["description"]) and str(first["description"]).strip()
    what = fact(key, "description", "text") if described else "The planned change"
    span = ""
    if pd.notna(first["exposure_span_years"]) and first["span_years"] != first["exposure_span_years"]:
        span = (f" It takes {fact(key, 'span_years', 'plain')} year(s); the budget changes in the data each "
                f"took {fact(key, 'exposure_span_years', 'plain')}, so the projection assumes the size of a "
                "change matters, not how fast it comes.")
    return (f"<b>{what}:</b> a change of {fact(key, 'nominal_change_pct', 'threshold')}% in the cash budget "
            f"from {fact(key, 'from_year', 'text')} to {fact(key, 'to_year', 'text')} is a change of "
            f"{fact(key, 'real_change_pct', 'pct_signed')}% after inflation{assumption}.{span}")


def extrapolation_sentence(table: pd.DataFrame, scenario: str, fact) -> str:
    """The observed range, and the extrapolation mark where the plan lies outside it (never one without the
    other)."""
    row = table[table["scenario"] == scenario].iloc[0]
    key = _key(row)
    observed = (f"between {fact(key, 'observed_min_pct', 'pct_signed')}% and "
                f"{fact(key, 'observed_max_pct', 'pct_signed')}%")
    if bool(row["extrapolation"]):
        return ('<span class="extrapolation"><b>EXTRAPOLATION.</b> Budgets in the data changed by '
                f"{observed} in real terms. This change lies outside that range, so the projections assume "
                "that the pattern seen within it carries on; nothing in the data can check that, and the "
                "models' disagreement grows the further out they go.</span>")
    return f"Budgets in the data changed by {observed} in real terms; this change lies within that range."


def mean_sentence(table: pd.DataFrame, scenario: str, fact) -> str:
    means, _ = _rows(table, scenario)
    if means.empty:
        return ""
    lead, others = means.iloc[0], means.iloc[1:]
    key = _key(lead)
    direction = "higher" if lead["estimate"] > 0 else "lower"
    text = (f"Mothers' psychological distress (K6 score, higher = more distress) would be "
            f"{fact(key, 'estimate', 'size')} points {direction} on average than if the budget kept pace "
            f"with inflation ({_interval(fact, key, 'signed')}; {_model_words(lead['model'])}).")
    for _, row in others.iterrows():
        other = _key(row)
        text += (f" With {_model_words(row['model'])} the difference is {fact(other, 'estimate', 'signed')} "
                 f"({_interval(fact, other, 'signed')}).")
    return text


def share_sentences(table: pd.DataFrame, scenario: str, fact) -> str:
    _, shares = _rows(table, scenario)
    parts = []
    for _, row in shares.iterrows():
        key = _key(row)
        what = SHARES[row["quantity"]]
        if pd.notna(row["cut_off"]):
            what = what.split(" (")[0] + (" (K6 of " if row["quantity"] == "serious_distress" else
                                          " (GHQ-12 of ") + f"{fact(key, 'cut_off', 'plain')} or more)"
        text = (f"The share of mothers with {what} would be {fact(key, 'share_planned_pct', 'pct')}% instead "
                f"of {fact(key, 'share_no_change_pct', 'pct')}% (a difference of "
                f"{fact(key, 'estimate', 'signed')} percentage points, {_interval(fact, key, 'signed')})")
        if pd.notna(row["mothers_affected"]):
            more = "more" if row["mothers_affected"] > 0 else "fewer"
            low = fact(key, "mothers_affected_ci_lower", "signed_mothers")
            high = fact(key, "mothers_affected_ci_upper", "signed_mothers")
            text += (f": of about {fact(key, 'mothers_served_per_year', 'mothers')} mothers served each "
                     f"year, about {fact(key, 'mothers_affected', 'mothers')} {more} a year "
                     f"({fact(key, 'ci_level', 'level')}% interval {low} to {high})")
        parts.append(text + ".")
    return " ".join(parts)


def scenario_paragraph(table: pd.DataFrame, scenario: str, tables: dict[str, pd.DataFrame]) -> str:
    fact = _fact_maker(tables)
    return (f"<p>{change_sentence(table, scenario, fact)} "
            f"{extrapolation_sentence(table, scenario, fact)}</p>\n"
            f"<p>{mean_sentence(table, scenario, fact)} {share_sentences(table, scenario, fact)}</p>")


CANNOT_SAY = (
    "These are projections from an observational comparison, not the results of an experiment: councils "
    "that cut budgets may differ in ways the analysis could not measure, so the differences are "
    "associations. They assume a change now would act as the budget changes in the data did, over a "
    "similar span of years, and they are about budgets, not about closing particular centres or changing "
    "what centres offer. They describe mothers like those surveyed, on average; they cannot say what would "
    "happen to any one family.")


def scenarios_section_html(tables: dict[str, pd.DataFrame]) -> str:
    """The report's section "What a planned cut would mean" (the figure and the table follow it)."""
    table = tables[TABLE]
    paragraphs = "\n".join(scenario_paragraph(table, name, tables)
                           for name in table["scenario"].drop_duplicates())
    return f"""<section id="scenarios" class="summary">
<p>Each planned change below is projected from the dose-response models, against keeping the budget level in
real terms. The intervals carry the models' statistical uncertainty, not the uncertainty of extrapolating
beyond the data.</p>
{paragraphs}
<p><b>What this cannot say.</b> {CANNOT_SAY}</p>
</section>"""


BRIEF_STYLE = """
@page { size: A4; margin: 11mm 13mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 8.6pt; line-height: 1.3; margin: 0;
       color: #111; }
h1 { font-size: 13.5pt; margin: 0 0 3pt 0; }
h2 { font-size: 9.6pt; margin: 6pt 0 2pt 0; color: #08306b; }
p { margin: 0 0 3pt 0; }
.banner { background: #b2182b; color: white; padding: 3pt 6pt; font-weight: bold; font-size: 8.6pt; }
.extrapolation { color: #b2182b; }
figure { margin: 3pt 0; text-align: center; }
figure img { max-height: 64mm; }
figcaption { font-size: 7.6pt; color: #333; }
table { border-collapse: collapse; font-size: 7.8pt; width: 100%; margin: 2pt 0; }
th, td { border-bottom: 1px solid #bbb; padding: 1.5pt 3pt; text-align: left; vertical-align: top; }
.footer { font-size: 7.2pt; color: #444; margin-top: 4pt; }
"""


def brief_html(tables: dict[str, pd.DataFrame], figure_path, synthetic: bool, provenance: str,
               disclosure: str) -> str:
    """The one-page brief for councillors: the question, the answer with its uncertainty, what it cannot
    say, where the numbers come from. Its lead is the plan's first scenario; the others are tabled."""
    table = tables[TABLE]
    fact = _fact_maker(tables)
    names = list(table["scenario"].drop_duplicates())
    lead = names[0]
    means, _ = _rows(table, lead)
    first = table[table["scenario"] == lead].iloc[0]
    question = (f"What would a change of {fact(_key(first), 'nominal_change_pct', 'threshold')}% in the "
                "children's-centre budget mean for the mental health of mothers with young children?")
    rows = []
    for name in names:
        mean_rows, share_rows = _rows(table, name)
        row = table[table["scenario"] == name].iloc[0]
        key = _key(row)
        mean_cell = "-"
        if len(mean_rows):
            mkey = _key(mean_rows.iloc[0])
            mean_cell = (f"{fact(mkey, 'estimate', 'signed')} ({fact(mkey, 'ci_lower', 'signed')} to "
                         f"{fact(mkey, 'ci_upper', 'signed')})")
        serious = share_rows[share_rows["quantity"] == "serious_distress"]
        share_cell, affected_cell = "-", "-"
        if len(serious):
            skey = _key(serious.iloc[0])
            share_cell = (f"{fact(skey, 'estimate', 'signed')} ({fact(skey, 'ci_lower', 'signed')} to "
                          f"{fact(skey, 'ci_upper', 'signed')})")
            if pd.notna(serious.iloc[0]["mothers_affected"]):
                affected_cell = (f"{fact(skey, 'mothers_affected', 'signed_mothers')} "
                                 f"({fact(skey, 'mothers_affected_ci_lower', 'signed_mothers')} to "
                                 f"{fact(skey, 'mothers_affected_ci_upper', 'signed_mothers')})")
        mark = ('<b class="extrapolation">EXTRAPOLATION</b>' if bool(row["extrapolation"])
                else "within the data")
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{fact(key, 'nominal_change_pct', 'threshold')}%"
                    f"</td><td>{fact(key, 'real_change_pct', 'pct_signed')}%</td><td>{mean_cell}</td>"
                    f"<td>{share_cell}</td><td>{affected_cell}</td><td>{mark}</td></tr>")
    level = fact(_key(first), "ci_level", "level")
    scenario_table = (
        "<table><thead><tr><th>Plan</th><th>Cash change</th><th>After inflation</th>"
        f"<th>Distress, K6 points ({level}% interval)</th><th>Serious distress, percentage points</th>"
        "<th>More mothers in serious distress a year</th><th>Range</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>")
    figure = figure_html(figure_path, "Projected difference in distress against real-terms budget change, "
                         "with the range observed in the data shaded and each plan marked",
                         "Projected difference in mean distress (K6 points) against the budget change after "
                         "inflation; shaded: the range seen in the data; dotted: extrapolation.")
    models = ", ".join(dict.fromkeys(table["model"]))
    banner = f'<div class="banner">{html.escape(SYNTHETIC_BANNER)}</div>' if synthetic else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Brief: what a planned cut would mean</title>
<style>{BRIEF_STYLE}</style></head><body>
{banner}
<section id="brief">
<h1>Children's centres: what a planned cut would mean for mothers</h1>
<h2>The question</h2>
<p>{question}</p>
<h2>The answer, with its uncertainty</h2>
{scenario_paragraph(table, lead, tables)}
{scenario_table}
{figure}
<h2>What it cannot say</h2>
<p>{CANNOT_SAY}</p>
<h2>Where the numbers come from</h2>
<p>Surveys of mothers using children's centres, the centres' budgets and the GDP deflator, analysed by models
fixed in advance (dose-response models of the budget change after inflation: {html.escape(models)}). The
intervals are {level}% confidence intervals. The full report and its appendix give the methods, every table
and how the data were checked.</p>
</section>
<p class="footer">Provenance {html.escape(provenance)} (hash of the inputs, settings, code and package
versions). {html.escape(disclosure)}</p>
{banner}
</body></html>
"""


QUANTITY_WORDS = {MEAN_QUANTITY: "Difference in mean K6 (points)",
                  "serious_distress": "Serious distress, K6 13+ (percentage points)",
                  "probable_cmd": "Probable common mental disorder, GHQ-12 4+ (percentage points)"}


def scenarios_table(table: pd.DataFrame) -> pd.DataFrame:
    """The report's table of projections: every row says whether it is an extrapolation, and the range."""
    def range_words(row) -> str:
        observed = f"observed {row['observed_min_pct']:+.1f}% to {row['observed_max_pct']:+.1f}%"
        return (f"EXTRAPOLATION ({observed})" if bool(row["extrapolation"])
                else f"within the data ({observed})")

    return pd.DataFrame({
        "Plan": table["scenario"],
        "Cash change (%)": table["nominal_change_pct"].map("{:+g}".format),
        "Real-terms change (%)": table["real_change_pct"].map("{:+.1f}".format),
        "Range": table.apply(range_words, axis=1),
        "Projection": table["quantity"].map(QUANTITY_WORDS).fillna(table["quantity"]),
        "Model": table["model"],
        "Estimate": table["estimate"].round(2),
        "Interval": [f"{low:+.2f} to {high:+.2f} ({round(100 * level)}%)"
                     for low, high, level in zip(table["ci_lower"], table["ci_upper"], table["ci_level"],
                                                 strict=True)],
        "More mothers a year": table["mothers_affected"].map(lambda v: "" if pd.isna(v) else
                                                             FORMATS["signed_mothers"](v)),
    })


def alt_scenarios(table: pd.DataFrame) -> str:
    rows = table[table["quantity"] == MEAN_QUANTITY].drop_duplicates("scenario")
    first = table.iloc[0]
    parts = [f"{r['scenario']} ({r['real_change_pct']:+.0f}% real"
             + (", extrapolation" if bool(r["extrapolation"]) else "") + f"): {r['estimate']:+.2f} points"
             for _, r in rows.iterrows()]
    return ("Line chart of the projected difference in distress against real-terms budget change, with the "
            f"observed range {first['observed_min_pct']:+.0f}% to {first['observed_max_pct']:+.0f}% shaded. "
            + "; ".join(parts) + ".")
