"""The chained-equations sampler against statsmodels: its least-squares fits, its donors, its draws."""

import numpy as np
import pandas as pd
import pytest

from analysis.chained import ChainedImputer, match_donors

GROUP = "g"


def _table(seed: int, n: int = 600, n_groups: int = 7) -> pd.DataFrame:
    """Continuous columns (no ties in predictions), group effects, ~10-25% missing per column."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    x1 = rng.normal(30, 5, n) + 0.5 * groups
    x2 = rng.normal(0, 1, n) + 0.1 * x1
    y = 2.0 + 0.3 * x1 - 0.8 * x2 + np.linspace(-1, 1, n_groups)[groups] + rng.normal(0, 1, n)
    table = pd.DataFrame({"y": y, "x1": x1, "x2": x2, GROUP: groups.astype(float)})
    for name, share in [("y", 0.25), ("x1", 0.1)]:
        table.loc[rng.random(n) < share, name] = np.nan
    return table


def _formula_fit(current: pd.DataFrame, observed: np.ndarray, target: str):
    """statsmodels OLS of `target` on the others plus C(g), design built on every row as MICEData does."""
    from patsy import dmatrix
    from statsmodels.regression.linear_model import OLS

    others = [c for c in current.columns if c not in (target, GROUP)]
    design = np.asarray(dmatrix(" + ".join(others) + f" + C({GROUP})", current))
    fit = OLS(current[target].to_numpy()[observed], design[observed]).fit()
    return fit, design


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
@pytest.mark.parametrize("empty_group", [False, True])
def test_conditional_model_is_ols_on_the_formula_design(empty_group):
    """Same fitted values and prediction variances as OLS with C(group) indicators, including a group
    with no observed target (the pseudo-inverse gives it effect 0, in both). Checked after single updates,
    which keep the sums current by difference rather than recomputing them."""
    table = _table(1)
    if empty_group:
        table.loc[table[GROUP] == 3, "y"] = np.nan
    imputer = ChainedImputer(table, GROUP, donors=5, rng=np.random.default_rng(0))
    for name in ["x1", "y", "x1"]:
        imputer.update(name)
    current = imputer.data
    observed = table["y"].notna().to_numpy()
    model = imputer.conditional_model("y")
    reference, design = _formula_fit(current, observed, "y")

    values = current[imputer.columns].to_numpy()
    groups = current[GROUP].to_numpy().astype(int)
    np.testing.assert_allclose(model.predict(values, groups), design @ reference.params, rtol=1e-10)
    # The prediction variance at each row, x' cov x, is parametrisation-free.
    indicators = np.eye(table[GROUP].nunique())[groups][:, 1:]
    ours = np.column_stack([np.ones(len(values)), values[:, model.others] - model.centring, indicators])
    np.testing.assert_allclose(np.einsum("ij,jk,ik->i", ours, model.cov, ours),
                               np.einsum("ij,jk,ik->i", design, reference.cov_params(), design),
                               rtol=1e-8)


def test_match_donors_matches_micedata_given_the_same_predictions_and_generator():
    from statsmodels.imputation.mice import MICEData

    table = _table(2).drop(columns=GROUP)
    imputer = MICEData(table, k_pmm=5, rng=np.random.default_rng(3))
    imputer.perturb_params("y")
    endog_obs, exog_obs, exog_miss, _, _ = imputer.get_split_data("y")
    params = imputer.params["y"]
    imputer.rng = np.random.default_rng(11)
    imputer.impute_pmm("y")

    ours = match_donors(np.asarray(endog_obs).ravel(), exog_obs @ params, exog_miss @ params, 5,
                        np.random.default_rng(11))
    np.testing.assert_array_equal(ours, imputer.data["y"].to_numpy()[imputer.ix_miss["y"]])


@pytest.mark.parametrize("predicted", [0.37, -5.0, 5.0])  # inside, below and above the observed range
def test_match_donors_draws_evenly_from_the_nearest_observed_cases(predicted):
    """Brute force: every donor is among the 5 observed cases with the nearest predictions, and each of
    them is drawn a fifth of the time (within 4.5 binomial SEs over 20,000 draws)."""
    rng = np.random.default_rng(5)
    predicted_observed = rng.normal(0, 1, 40)
    observed = np.arange(40.0)  # the value names the case
    nearest = set(np.argsort(np.abs(predicted_observed - predicted))[:5])
    draws = match_donors(observed, predicted_observed, np.full(20_000, predicted), 5, rng)
    assert set(draws.astype(int)) == nearest
    shares = pd.Series(draws).value_counts(normalize=True)
    assert np.abs(shares - 0.2).max() < 4.5 * np.sqrt(0.2 * 0.8 / 20_000)


def test_sampler_keeps_observed_values_and_imputes_observed_ones():
    table = _table(6)
    imputer = ChainedImputer(table, GROUP, donors=5, rng=np.random.default_rng(1))
    assert imputer.cycle_order == ["x1", "y"]  # fewest missing first; x2 is complete
    start = imputer.data
    for name in ["y", "x1"]:  # MICEData's start: the observed value nearest the observed mean
        observed = table[name].dropna()
        nearest_mean = observed.iloc[(observed - observed.mean()).abs().argmin()]
        assert (start.loc[table[name].isna(), name] == nearest_mean).all()
    imputer.update_all(3)
    completed = imputer.data
    for name in ["y", "x1"]:
        observed = table[name].notna()
        np.testing.assert_array_equal(completed.loc[observed, name], table.loc[observed, name])
        assert completed[name].notna().all()
        assert set(completed.loc[~observed, name]) <= set(table.loc[observed, name])
        column = imputer.column(name)  # one column, as multiple imputation reads it, and a copy
        np.testing.assert_array_equal(column, completed[name].to_numpy())
        column[:] = np.nan
        assert imputer.column(name) is not column and not np.isnan(imputer.column(name)).any()


def test_sampler_recovers_a_known_conditional_mean():
    """Missing at random given x1 and the group: over 20 cycles the imputed y average the true
    conditional mean of the missing cases (n = 20,000; within 4 Monte Carlo SEs)."""
    rng = np.random.default_rng(12)
    n = 20_000
    groups = rng.integers(0, 5, n)
    x1 = rng.normal(0, 1, n)
    truth = 1.0 + 2.0 * x1 + np.array([0.0, 1.0, -1.0, 2.0, 0.5])[groups]
    y = truth + rng.normal(0, 1, n)
    missing = rng.random(n) < 1 / (1 + np.exp(-(x1 + groups - 2)))  # depends on x1 and the group only
    table = pd.DataFrame({"y": np.where(missing, np.nan, y), "x1": x1, GROUP: groups})
    imputer = ChainedImputer(table, GROUP, donors=5, rng=np.random.default_rng(2))
    means = []
    for _ in range(20):
        imputer.update_all(1)
        means.append(imputer.data["y"].to_numpy()[missing].mean())
    se = np.std(means, ddof=1) / np.sqrt(len(means)) + 1.0 / np.sqrt(missing.sum())
    assert abs(np.mean(means) - truth[missing].mean()) < 4 * se


@pytest.mark.parametrize("codes", [[0, 1, np.nan], [0, 1.5, 2], [-1, 0, 1]])
def test_group_codes_must_be_complete_non_negative_integers(codes):
    table = pd.DataFrame({"y": [1.0, np.nan, 3.0], GROUP: codes})
    with pytest.raises(ValueError, match="group column 'g'"):
        ChainedImputer(table, GROUP, donors=1, rng=np.random.default_rng(0))
