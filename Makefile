# Two entry points, see README.md:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
OMVENV := .venv-openmodule
OM10VENV := .venv-openmodule10
PIP    := $(VENV)/bin/pip --disable-pip-version-check -q

.PHONY: install openmodule-env openmodule10-env run test lint bench fuzz faults soak

install:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e hookspecs -e '.[test]' -e plugins_example/hello -e plugins_example/backend_x \
		-e plugins_example/welcome -e plugins_example/access_demo ./speedups

# The reference peer for interop tests and benchmarks: openmodule 18.5.0 from PyPI, in its own
# environment, always run as a separate process (it is GPLv2 and never imported by this project).
openmodule-env:
	test -x $(OMVENV)/bin/python || $(PYTHON) -m venv $(OMVENV)
	$(OMVENV)/bin/pip --disable-pip-version-check -q install 'openmodule==18.5.0'

# The V2-era peer for the legacy backend interop tests: openmodule 10.0.7, also GPLv2 and only ever run as a
# separate process. Its pinned pyzmq 22 does not build on Python 3.11, so its dependencies are installed
# first (a newer pyzmq works for its messaging) and openmodule itself without them.
openmodule10-env:
	test -x $(OM10VENV)/bin/python || $(PYTHON) -m venv $(OM10VENV)
	$(OM10VENV)/bin/pip --disable-pip-version-check -q install "pydantic<2" "sentry-sdk==0.7.14" "orjson<4" pyzmq \
		requests editdistance python-dateutil python-dotenv pyyaml "alembic<1.8" "sqlalchemy<1.4"
	$(OM10VENV)/bin/pip --disable-pip-version-check -q install --no-deps 'openmodule==10.0.7'

run: install
	$(VENV)/bin/openmodule-host --plugins hello,backend_x

test: install openmodule-env openmodule10-env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

# Issue 16's figures in one run, as ratios against raw pyzmq and openmodule 18.5.0 (bench/results/summary.md);
# `make bench BENCH_ARGS=--quick` for a smoke run. Each benchmark alone: docs/benchmarks.md.
bench: install openmodule-env
	$(VENV)/bin/python -m bench all $(BENCH_ARGS)

# Robustness suites (docs/operations.md, "Robustness: fuzz, fault and soak suites").
# fuzz: 100,000 hostile frames (OMH_FUZZ_FRAMES) and a report; faults: the whole fault matrix and its table
# (bench/results/faults.md); soak: mixed traffic for OMH_SOAK_MINUTES (5) minutes, fails if anything grows.
OMH_FUZZ_FRAMES ?= 100000

fuzz: install
	OMH_FUZZ_FRAMES=$(OMH_FUZZ_FRAMES) $(VENV)/bin/pytest -q -p no:cacheprovider tests/fuzz

faults: install
	$(VENV)/bin/python -m tests.faults --out bench/results/faults.md

soak: install
	$(VENV)/bin/python -m tests.soak
