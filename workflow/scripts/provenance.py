"""Adapter: rule provenance -> analysis.stages.tables.provenance."""
from analysis.io import run_logged
from analysis.stages.tables import provenance

smk = snakemake  # noqa: F821 (provided by Snakemake)
raw = {name: path for name, path in smk.input.items() if name not in ("code", "validated", "plan", "lock")}
run_logged(smk.log[0], provenance, raw=raw, config=dict(smk.params.config), plan=smk.input.plan,
           lock=smk.input.get("lock"), output=smk.output.record)
