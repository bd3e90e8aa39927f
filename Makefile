# relayd: `make run` starts a demo relay, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
ARGS ?=
ARCH ?= $(shell uname -m)

.PHONY: run test test-pg test-ha lint fuzz bench dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)  ## start relayd (demo modem, ./var/, 127.0.0.1:8080 unless a config file exists)
	$(BIN)/relayd run $(ARGS)

test: $(STAMP)  ## the whole suite
	$(BIN)/python -m pytest -q -p no:cacheprovider $(ARGS)

test-pg: $(STAMP)  ## the whole suite on PostgreSQL (a throwaway server of Debian's postgresql package)
	$(BIN)/python -m pytest -q -p no:cacheprovider --store=postgresql $(ARGS)

fuzz: $(STAMP)  ## the fuzz and property suite, long: every schemathesis phase, many examples
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-60} FUZZ_WORKERS=1 \
	FUZZ_PHASES=$${FUZZ_PHASES:-examples,coverage,fuzzing,stateful} \
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider -o timeout=0 \
	tests/test_fuzz_api.py tests/test_fuzz_regressions.py tests/fuzz $(ARGS)

# The Home Assistant integration (custom_components/relayd) is tested in its own venv:
# Home Assistant needs Python 3.13 and pins its own aiohttp/pydantic. The tests start the
# project's own relayd (.venv/bin/relayd) as a subprocess, so both venvs are needed.
PYTHON_HA ?= $(firstword $(wildcard /root/.pyenv/versions/3.13*/bin/python) python3.13)
VENV_HA := .venv-ha
STAMP_HA := $(VENV_HA)/.installed-$(shell cat tests_ha/requirements.txt | cksum | cut -d' ' -f1)

$(VENV_HA)/bin/python:
	$(PYTHON_HA) -m venv $(VENV_HA)

$(STAMP_HA): tests_ha/requirements.txt | $(VENV_HA)/bin/python
	$(VENV_HA)/bin/python -m pip install -q --upgrade pip
	$(VENV_HA)/bin/python -m pip install -q -r tests_ha/requirements.txt
	rm -f $(VENV_HA)/.installed-*
	touch $@

test-ha: $(STAMP) $(STAMP_HA)  ## the Home Assistant integration against a real relayd
	$(VENV_HA)/bin/ruff check custom_components tests_ha
	$(VENV_HA)/bin/mypy --config-file tests_ha/mypy.ini custom_components/relayd
	$(VENV_HA)/bin/python -m pytest -c tests_ha/pytest.ini -q -p no:cacheprovider tests_ha $(ARGS)

lint: $(STAMP)  ## ruff + mypy (strict on relayd and modem)
	$(BIN)/ruff check relayd modem tests bench
	$(BIN)/mypy

bench: $(STAMP)  ## the benchmarks whose figures are quoted in README.md
	$(BIN)/python bench/api_ingest.py

dist: $(STAMP)  ## one file with every dependency: dist/relayd-<version>-<arch>.pyz (ARCH=aarch64 for a Pi)
	bash systemd/build-pyz.sh $(ARCH) dist

clean:
	rm -rf $(VENV) $(VENV_HA) var dist build .pytest_cache .mypy_cache .ruff_cache *.egg-info
