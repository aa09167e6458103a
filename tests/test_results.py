"""Result tables, their renderings and the report's sentences state estimand, direction and data source."""

import pandas as pd
import pytest

from analysis.labels import outcome_label
from analysis.results import SYNTHETIC_BANNER, to_latex, to_markdown


def test_outcome_label_states_scale_and_direction():
    assert outcome_label("k6_w3") == "K6 psychological distress (0-24, higher = more distress) at wave 3"
    assert outcome_label("something_else") == "something_else"


def table():
    return pd.DataFrame({
        "contrast": ["growing vs cut"], "estimate": [-0.9123], "std_error": [0.2], "ci_lower": [-1.3],
        "ci_upper": [-0.5], "p_value": [0.0004], "n_mothers": [100], "n_centres": [10], "n_las": [5],
        "estimand": ["Adjusted difference in mean K6 at wave 3"], "direction": ["Negative = less distress"],
    })


@pytest.mark.parametrize("render", [to_markdown, to_latex])
def test_renderings_carry_the_banner_only_for_synthetic_data(render):
    assert SYNTHETIC_BANNER.split(" - ")[0] in render(table(), "Primary", True)
    assert SYNTHETIC_BANNER.split(" - ")[0] not in render(table(), "Primary", False)


def test_markdown_rounds_and_states_notes():
    text = to_markdown(table(), "Primary", False)
    assert "-0.91" in text and "<0.001" in text
    assert "Estimand: Adjusted difference in mean K6 at wave 3" in text
    assert "Direction: Negative = less distress" in text


def test_latex_is_booktabs_and_escaped():
    text = to_latex(table(), "Primary 100% _test_", False)
    assert "\\toprule" in text and "\\bottomrule" in text
    assert "95\\% CI lower" in text
    assert "Primary 100\\% \\_test\\_" in text
    assert "\\textless{}0.001" in text
