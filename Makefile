# The two commands of the README: `make run` (whole pipeline on the bundled data) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
CORES ?= 2
# Jupyter's kernel and Snakemake's shell commands must find the environment's tools first.
export PATH := $(BIN):$(PATH)
# One BLAS thread per process: Snakemake already runs jobs side by side on the cores, and oversubscribed
# BLAS threads slowed the model fits 4-15x in measurements here.
export OPENBLAS_NUM_THREADS := 1

.PHONY: run test suite lint dry-run rulegraph browser slurm-check benchmark lock freeze demo-data clean

# make run WHEELHOUSE=dir installs from a folder of wheels and never contacts an index (README "Installing
# without internet"); the project's own build finds setuptools there too. (make wheelhouse WHEELHOUSE=dir is
# the other way round: it writes that folder, from the index, with the wheelhouse tools below.)
WHEELHOUSE ?=
PIP_SOURCE = $(if $(WHEELHOUSE),--no-index --find-links "$(WHEELHOUSE)")

# Every module is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on the CI machines), Python
# would otherwise compile each module again in every process that imports it (tried: make test slowed
# severalfold). pip compiles one file at a time; compileall -j 0 uses every core (about 30 CPU-seconds, half
# the wall time on 2 cores). As with pip's own compile step, a file that does not compile is reported and
# left to Python (a package may ship such files as test data).
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile $(PIP_SOURCE) -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile $(PIP_SOURCE) --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib || echo "some modules did not compile (left to Python)"
	touch $@

# make run PLAN=my_plan.yaml layers a plan file over config/config.yaml (read as plain YAML, never evaluated;
# README "The two commands"); make run PDF=chromium also prints the report and the brief to PDF (the setting
# report_pdf; needs Chromium: make browser). The report archive is made with the same settings.
PLAN_CONFIG = $(if $(PLAN),--config "plan_file=$(PLAN)")
RUN_CONFIG = $(strip $(if $(PLAN)$(PDF),--config $(if $(PLAN),"plan_file=$(PLAN)") $(if $(PDF),"report_pdf=$(PDF)")))

run: $(VENV)/.installed
	$(BIN)/snakemake --workflow-profile workflow/profiles/local --cores $(CORES) $(RUN_CONFIG)
	$(BIN)/snakemake --report results/report.zip $(RUN_CONFIG)
	@echo "Report: $(CURDIR)/results/report/report.html"
	$(if $(PDF),@echo "Report as PDF: $(CURDIR)/results/report/report.pdf")
	@echo "Appendix: $(CURDIR)/results/report/appendix.html"
	@echo "Browsable archive of every deliverable: $(CURDIR)/results/report.zip"

# First the environment, Chromium and the offline install, side by side (pip, apt-get, and pip again): pip
# installs on one core, so the offline install (its own fresh venv, from a wheelhouse) takes the other one
# rather than competing with the suite later. Then the checks side by side: lint, the dry run and the suite.
# The SLURM check is one of the suite's tests (tests/test_cluster.py), compared with the suite's own whole run
# rather than a run of its own. Each check's output is printed whole when it ends, the suite's as it runs; a
# failed check fails make test when the others have ended. CHECKS_PARALLEL=1 runs them one by one. (The
# SLURM check installs Debian packages too, after Chromium's: apt-get takes one caller at a time.)
CHECKS_PARALLEL ?= 3
test:
	$(MAKE) --jobs=$(CHECKS_PARALLEL) --output-sync=target $(VENV)/.installed browser offline-check
	$(MAKE) --jobs=$(CHECKS_PARALLEL) --output-sync=target lint dry-run suite

# The suite on every core: one pytest worker per core, each test file on one worker (its module fixtures
# are made once), the whole-pipeline run made once for all (tests/conftest.py, made_once).
# PYTEST_PARALLEL= runs it in one process.
PYTEST_PARALLEL ?= -n auto --dist loadfile
# (+: GNU make shows this recipe's output as it comes, not held back by --output-sync; it would also run
# under make -n.)
suite: $(VENV)/.installed
	+$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=25

# The Python (ruff), the Snakefile and rule files (snakefmt; snakemake --lint, as the Snakemake workflow
# catalog checks them), and the committed rule graph against the workflow's (make rulegraph updates it).
SNAKEFILES := Snakefile $(wildcard workflow/rules/*.smk)
# (No pipefail in sh: if snakemake fails, analysis.rulegraph refuses its empty output and the target fails.)
RULEGRAPH = $(BIN)/snakemake --rulegraph --quiet all | $(BIN)/python -m analysis.rulegraph

lint: $(VENV)/.installed
	$(BIN)/ruff check analysis workflow/scripts tests benchmarks cluster offline
	$(BIN)/snakefmt --check $(SNAKEFILES)
	$(BIN)/snakemake --lint
	$(RULEGRAPH) --check docs/rulegraph.dot

dry-run: $(VENV)/.installed
	$(BIN)/snakemake --dry-run --quiet rules --cores 1

# The rule graph shown in the README: DOT in canonical form (analysis/rulegraph.py), drawn by Graphviz's dot
# (Debian/Ubuntu: apt-get install graphviz).
rulegraph: $(VENV)/.installed
	$(RULEGRAPH) --output docs/rulegraph.dot
	dot -Tsvg docs/rulegraph.dot -o docs/rulegraph.svg

# System Chromium for the browser and PDF tests; installs Debian's package when missing (as root).
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || command -v google-chrome >/dev/null 2>&1; then \
	  :; \
	elif [ "$$(id -u 2>/dev/null)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium (apt-get install chromium)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; \
	else \
	  echo "Chromium is needed by the tests: install it (Debian/Ubuntu: apt-get install chromium) and put it on PATH." >&2; \
	  exit 1; \
	fi

# The SLURM profile on a real SLURM: single-node SLURM 22.05 on this machine (Debian packages, as root), the
# whole pipeline through --executor slurm, compared with a local run alongside; the daemons are stopped
# afterwards. (make test runs it as a test of the suite, against the suite's own whole run.)
slurm-check: $(VENV)/.installed
	@if [ "$$(id -u 2>/dev/null)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  PYTHON=$(BIN)/python cluster/slurm_check.sh; \
	else \
	  echo "slurm-check skipped: starting SLURM daemons needs root (run: sudo make slurm-check)"; \
	fi

# National-scale benchmark (3,500 centres, 1,000,000 mothers): prints per-rule and model-fit timings.
benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/national.py

# Freeze the analysis plan (README "Freezing the analysis plan"): record this plan (config/config.yaml, with
# PLAN=my_plan.yaml layered over it) in config/plan.lock with its hash, the commit and the time. An existing
# lock is never overwritten; a changed plan is recorded as an amendment with its reason: make freeze AMEND="why".
freeze: $(VENV)/.installed
	$(BIN)/snakemake results/data/analysis_plan.json --cores 1 --quiet rules $(PLAN_CONFIG)
	$(BIN)/python -m analysis.plan_lock results/data/analysis_plan.json config/plan.lock \
	  $(if $(AMEND),--amend "$(AMEND)")

.PHONY: wheelhouse offline-check

# The wheelhouse tools (offline/wheelhouse.py) need only pip and `packaging`, as pinned in requirements.lock:
# a venv of their own, so that neither making a wheelhouse nor the offline check waits for the environment.
WHEELHOUSE_TOOLS := .wheelhouse-tools
$(WHEELHOUSE_TOOLS)/.installed: requirements.lock
	test -x $(WHEELHOUSE_TOOLS)/bin/python || $(PYTHON) -m venv $(WHEELHOUSE_TOOLS)
	$(WHEELHOUSE_TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check \
	  "$$(grep '^packaging==' requirements.lock)"
	touch $@
WHEELHOUSE_PY := $(WHEELHOUSE_TOOLS)/bin/python offline/wheelhouse.py

# On a connected machine: every pinned wheel for Linux and Windows (CPython 3.11) in one folder, checked.
wheelhouse: $(WHEELHOUSE_TOOLS)/.installed
	$(WHEELHOUSE_PY) build $(or $(WHEELHOUSE),wheelhouse)

# The offline install works: a Linux wheelhouse (kept in .offline-check/: a rerun fetches only what changed),
# then a fresh venv installed from it with the index unreachable, importing the project and dry-running the
# workflow. A target of its own because it costs more than a unit test (README "Installing without internet").
offline-check: $(WHEELHOUSE_TOOLS)/.installed
	$(WHEELHOUSE_PY) build --platform linux .offline-check/wheelhouse
	$(WHEELHOUSE_PY) verify .offline-check/wheelhouse

# Regenerate the pinned lock from requirements.in in a fresh environment.
lock:
	rm -rf /tmp/centre-lock && $(PYTHON) -m venv /tmp/centre-lock
	/tmp/centre-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Pinned, complete dependency set (Python 3.11). Regenerate with: make lock"; \
	  /tmp/centre-lock/bin/pip freeze; } > requirements.lock

# Rebuild the bundled synthetic data from the seeded simulator (tests check they are identical).
demo-data: $(VENV)/.installed
	$(BIN)/python -m analysis.simulate data/raw --preset demo

clean:
	rm -rf results .snakemake .offline-check $(WHEELHOUSE_TOOLS)
