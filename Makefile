# Two entry points, see README.md:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
OMVENV := .venv-openmodule
PIP    := $(VENV)/bin/pip --disable-pip-version-check -q

.PHONY: install openmodule-env run test lint bench

install:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e hookspecs -e '.[test]' -e plugins_example/hello -e plugins_example/backend_x

# The reference peer for interop tests and benchmarks: openmodule 18.5.0 from PyPI, in its own
# environment, always run as a separate process (it is GPLv2 and never imported by this project).
openmodule-env:
	test -x $(OMVENV)/bin/python || $(PYTHON) -m venv $(OMVENV)
	$(OMVENV)/bin/pip --disable-pip-version-check -q install 'openmodule==18.5.0'

run: install
	$(VENV)/bin/openmodule-host --plugins hello,backend_x

test: install openmodule-env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

bench: install openmodule-env
	$(VENV)/bin/python -m bench pubsub
	$(VENV)/bin/python -m bench rpc
	$(VENV)/bin/python -m bench footprint
