"""The bundled demonstration data are exactly what the seeded simulator makes, and say they are synthetic."""

import json

from analysis.simulate import MARKER_FILE, PRESETS, simulate, write
from tests.conftest import ROOT

BUNDLED = ROOT / "data" / "raw"


def test_bundled_data_are_reproduced_exactly_by_the_simulator(tmp_path):
    write(simulate(PRESETS["demo"]), tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in BUNDLED.iterdir() if p.name != "README.md")
    for name in made:
        assert (tmp_path / name).read_bytes() == (BUNDLED / name).read_bytes(), name


def test_marker_states_synthetic_and_the_truth():
    marker = json.loads((BUNDLED / MARKER_FILE).read_text())
    assert "SYNTHETIC" in marker["note"]
    assert marker["true_effects"]["growing vs cut"] == PRESETS["demo"].effect_growing


def test_demo_data_have_the_promised_shape_and_mess():
    tables = simulate(PRESETS["demo"])
    centres, survey = tables["centres.csv"], tables["survey.csv"]
    assert len(centres) == 120 and centres["la_code"].nunique() == 25
    assert survey["mother_id"].str.strip().str.upper().nunique() == 2600
    wave3 = survey.loc[survey["wave"] == 3, "mother_id"].str.strip().str.upper().nunique()
    assert 0.15 < 1 - wave3 / 2600 < 0.25  # about a fifth miss wave 3
    assert survey.duplicated().sum() == PRESETS["demo"].exact_duplicates
    money = tables["centre_funding.csv"]["budget_gbp"].astype(str)
    assert money.str.startswith("£").any() and money.str.endswith(".00").any() and (money == "").any()
