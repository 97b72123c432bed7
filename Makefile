# Two commands set everything up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export NOSCOPE_HOME ?= $(HOME)/.cache/noscope
export DAGSTER_HOME := $(abspath dagster_home)
# Two cores: one torch thread per process avoids OpenMP oversubscription; PASSIVE stops spin-waiting
# threads from starving cv2.dnn in the same process.
export OMP_NUM_THREADS ?= 2
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install fetch demo test ui mlflow-ui ui-check bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

fetch: install
	$(BIN)/noscope fetch

demo: fetch
	$(BIN)/noscope demo

test: fetch
	$(BIN)/python -m pytest -q

ui: install
	$(BIN)/noscope ui

mlflow-ui: install
	$(BIN)/noscope mlflow-ui

# The real UIs after a demo-like run, checked through their APIs, plus headless-Chromium screenshots
# (Debian: apt-get install -y chromium chromium-driver); the screenshots land in .noscope/ui-check/.
ui-check: install
	NOSCOPE_UI_SHOTS=$(abspath .noscope/ui-check) $(BIN)/python -m pytest -q -m ui -p no:cacheprovider \
		--basetemp=$(abspath .noscope/ui-check/tmp) tests/pipelines/test_ui_check.py

bench: fetch
	$(BIN)/python -m benchmarks.run

lint: install
	$(BIN)/pre-commit run --all-files

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
