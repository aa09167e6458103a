"""The mixed-model engine against lme4 at three sizes, measured in one run on this machine.

    .venv/bin/python benchmarks/engine_vs_lme4.py [--repeat 3] [--rows 700000]

Data, each fitted with random intercepts for the outer and the inner cluster:
  * demo:     the pipeline's primary sample of the bundled synthetic data (tests/fixtures/lme4/demo_input.csv:
              1,883 mothers, 120 centres, 25 LAs, 16 fixed effects);
  * Chem97:   mlmRev's real A-level data (31,022 students, 2,410 schools, 131 LEAs, 4 fixed effects:
              score ~ gcsecnt + age + female), tests/fixtures/lme4/chem97_input.csv.gz;
  * national: simulated England-sized data in the primary model's shape (about 700,000 mothers, 3,500
              centres, 150 LAs, 16 fixed effects), drawn here.
Ours: `fit_nested_lmm` from the data frame's columns to the confirmed REML fit (input checks, sufficient
statistics, every search), and separately the Satterthwaite degrees of freedom of every coefficient. lme4:
`lmer(..., REML = TRUE)` (bobyqa, as tests/fixtures/lme4/*.R), timed inside R with system.time, data already
in memory. Both best of --repeat runs. The REML log-likelihoods are compared too. R with lme4 must be
installed (Debian: r-base-core r-cran-lme4); without it only our times are printed. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from timing import timed  # benchmarks/ (this script's folder)

from analysis.design import ModelSpec, design_matrix
from analysis.mixed import FitSettings, fit_nested_lmm
from analysis.primary import load_plan
from analysis.smallsample import fit_inference

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "lme4"

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[[1]])
terms <- setdiff(names(d), c("y", "outer", "inner"))
f <- as.formula(paste("y ~", paste(terms, collapse = " + "), "+ (1 | outer) + (1 | outer:inner)"))
best <- Inf
for (i in seq_len(as.integer(args[[2]]))) {
  s <- system.time(fit <- lmer(f, data = d, REML = TRUE,
                               control = lmerControl(optimizer = "bobyqa")))[["elapsed"]]
  best <- min(best, s)
}
cat(best, format(as.numeric(logLik(fit)), digits = 17), "\n")
"""


def demo_data(plan) -> tuple:
    frame = pd.read_csv(FIXTURES / "demo_input.csv", dtype={"funding_group": "string"})
    y, X = design_matrix(frame, ModelSpec.from_config("primary", plan["models"]["primary"]))
    return y, X, frame["la_code"], frame["centre_id"]


def chem97_data() -> tuple:
    data = pd.read_csv(FIXTURES / "chem97_input.csv.gz")
    X = pd.DataFrame({"Intercept": 1.0, "gcsecnt": data["gcsecnt"], "age": data["age"].astype(float),
                      "female": data["female"].astype(float)})
    return data["score"].astype(float), X, data["lea"], data["school"]


def national_data(rows: int, seed: int = 2010) -> tuple:
    """Nested data the primary model's size: 150 outer, 3,500 inner clusters, 16 fixed effects."""
    rng = np.random.default_rng(seed)
    inner_outer = np.sort(np.r_[np.arange(150), rng.integers(0, 150, 3350)])
    inner = rng.integers(0, 3500, rows)
    outer = inner_outer[inner]
    X = pd.DataFrame(rng.normal(size=(rows, 15)), columns=[f"x{j}" for j in range(15)])
    X.insert(0, "Intercept", 1.0)
    y = (X.to_numpy() @ rng.normal(size=16) + rng.normal(0, 0.5, 150)[outer] + rng.normal(0, 0.4, 3500)[inner]
         + rng.normal(0, 2.0, rows))
    return pd.Series(y), X, pd.Series(outer), pd.Series(inner)


def lme4_seconds(y, X, outer, inner, repeat: int) -> tuple[float, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = X.drop(columns="Intercept")
        data.columns = [f"v{j}" for j in range(data.shape[1])]  # names R's formula parser accepts
        data = data.assign(y=np.asarray(y), outer=np.asarray(outer).astype(str),
                           inner=np.asarray(inner).astype(str))
        data.to_csv(Path(tmp) / "data.csv", index=False)
        (Path(tmp) / "fit.R").write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(Path(tmp) / "fit.R"), str(Path(tmp) / "data.csv"), str(repeat)],
                             capture_output=True, text=True, check=True)
    seconds, loglik = out.stdout.split()
    return float(seconds), float(loglik)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=700_000, help="rows of the national-size data")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    plan = load_plan()
    settings = FitSettings.from_config(plan["mixed_model_fit"])
    sizes = {"demo (synthetic)": demo_data(plan), "Chem97 (mlmRev, real)": chem97_data(),
             "national (simulated)": national_data(args.rows)}
    print("| data | rows | inner | outer | fixed effects | ours: confirmed fit | ours: Satterthwaite df, "
          "every coefficient | lme4::lmer | ratio lme4 / ours | REML loglik, ours - lme4 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, (y, X, outer, inner) in sizes.items():
        ours, fit = timed(lambda y=y, X=X, outer=outer, inner=inner: fit_nested_lmm(y, X, outer, inner,
                                                                                     settings), args.repeat)
        def every_df(fit=fit):
            inference = fit_inference(fit, "satterthwaite")
            return [inference.contrast(e).df for e in np.eye(len(fit.terms))]

        df_seconds, _ = timed(every_df, args.repeat)
        reference = lme4_seconds(y, X, outer, inner, args.repeat)
        lme4 = f"{reference[0]:.3f} s" if reference else "R not installed"
        ratio = f"{reference[0] / ours:.1f}x" if reference else ""
        gap = f"{fit.reml_loglik - reference[1]:+.1e}" if reference else ""
        print(f"| {name} | {len(y):,} | {fit.n_inner:,} | {fit.n_outer:,} | {len(fit.terms)} | {ours:.3f} s "
              f"| {df_seconds:.3f} s | {lme4} | {ratio} | {gap} |")


if __name__ == "__main__":
    main()
