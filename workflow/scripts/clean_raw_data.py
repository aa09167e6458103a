"""Adapter: rule clean_raw_data -> analysis.stages.clean.clean_raw_data."""
from analysis.io import run_logged
from analysis.stages.clean import clean_raw_data

smk = snakemake  # noqa: F821 (provided by Snakemake)
out = smk.output
import_logs = [path for name, path in smk.input.items() if name.startswith("import_log_")]
run_logged(smk.log[0], clean_raw_data, raw_dir=smk.params.raw_dir, level=smk.params.level,
           contract_files=dict(smk.params.contract_files), imported_from=dict(smk.params.imported_from),
           import_logs=import_logs,
           centres=out.centres, funding=out.funding, deflators=out.deflators, survey=out.survey,
           cleaning_log=out.cleaning_log, source=out.source)
