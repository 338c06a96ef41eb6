# Lip reading on GRID: two commands on a fresh Linux machine with Python 3.11.
#
#   make run     set everything up and start the app (http://localhost:8501)
#   make test    set everything up and run the tests
#
# and: make data | checkpoint | train | evaluate | predict   (make help)
# Each is a verb of the `lipread` command (.venv/bin/lipread, or python -m lipread); the
# benchmarks and studies live beside the package (benchmarks/, experiments/: make help).
# GRID data that already exists:  LIPREAD_DATA_DIR=/path/to/grid make run

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

export LIPREAD_DATA_DIR ?= data
DECODER ?= grammar
VIDEO ?= $(LIPREAD_DATA_DIR)/s1/bbaf2n.mpg
RUN_DIR ?= runs/lipnet
PYTEST_ARGS ?= -q -rs
LAYOUT_TRAIN_CLIPS ?= 40
# The layout pass leaves out the browser, bench, multi-worker and JAX tests to save time (minutes each
# on CI's 2 cores); both run in `make test`.
LAYOUT_PYTEST_ARGS ?= -q -rs -m grid --ignore=tests/test_browser.py --ignore=tests/test_bench.py \
  --ignore=tests/test_multiworker.py --ignore=tests/test_jax.py \
  --ignore=tests/test_live_browser.py --ignore=tests/test_wheel.py
BROWSER_PACKAGES ?= chromium
TRAIN_ARGS ?=
EVAL_ARGS ?=
PREDICT_ARGS ?=
BENCH_ARGS ?=
# The app listens on this machine only (http://localhost:8501); to serve other machines,
# e.g. behind a reverse proxy or on a trusted network (docs/security.md):
#   make run STREAMLIT_ARGS="--server.headless true --server.address 0.0.0.0"
STREAMLIT_ARGS ?= --server.headless true --server.address localhost

.DEFAULT_GOAL := help
.PHONY: help setup setup-run run test test-layout browser-deps ensure-data data checkpoint train evaluate metrics predict bench bench-live enroll-study mutate

help:
	@echo "make run          set up .venv, fetch data/ when missing, start the app on :8501"
	@echo "make test         set up .venv (and chromium, as root), run the tests"
	@echo "make test-layout  the GRID tests (-m grid) again, on a copy of \$$LIPREAD_DATA_DIR laid"
	@echo "                  out the way lipread download lands data.zip (.mpg only, its splits)"
	@echo "make data         download the tutorial's GRID s1 data into \$$LIPREAD_DATA_DIR (data/)"
	@echo "make checkpoint   download the tutorial's pretrained weights into models/"
	@echo "make train        lipread train --data-dir \$$LIPREAD_DATA_DIR --run-dir $(RUN_DIR) \$$TRAIN_ARGS"
	@echo "make evaluate     WER/CER of models/lipnet.weights.h5 on splits/test.txt, each decoder"
	@echo "make metrics      make evaluate, then write models/metrics.json (the app shows it)"
	@echo "make predict      read the lips of VIDEO=$(VIDEO)"
	@echo "make bench        python -m benchmarks: ONNX Runtime, Keras and the tutorial side by side;"
	@echo "                  cold starts, install sizes (benchmarks/README.md)"
	@echo "make bench-live   python -m benchmarks --live: the Live page through a fake camera"
	@echo "make enroll-study python -m experiments enroll: the adaptation methods compared on s26"
	@echo "                  and s31 in OTHERS_DIR=$(OTHERS_DIR) (experiments/README.md)"
	@echo "make mutate       mutation testing (mutmut) of the core modules; MUTANTS='lipread.decoding.*'"
	@echo "LIPREAD_DATA_DIR=$(LIPREAD_DATA_DIR)"

# The virtualenv, redone only when a requirements file changes: `make run` installs what
# reading and training need (requirements-train.txt); `make test` adds the test and JAX sets.
setup: $(STAMP)
setup-run: $(RUN_STAMP)

define make_venv
	@test -n "$(PYTHON)" || { echo "make: no python3.11 or python3 on PATH" >&2; exit 1; }
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PYTHON) -m venv $(VENV) || { \
	  echo "make: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	  exit 1; }
	$(PY) -m pip install --disable-pip-version-check -r $(1)
	$(PY) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -q -e .
	@# what reading builds on its first run, built now: the ONNX export, the face models'
	@# quick forms (in ~/.cache/lipread; a failure here only moves it to the first run)
	-$(PY) -m lipread export
endef

$(STAMP): requirements.txt requirements-train.txt requirements-test.txt requirements-jax.txt pyproject.toml
	$(call make_venv,requirements-test.txt)
	@touch $@ $(RUN_STAMP)

$(RUN_STAMP): requirements.txt requirements-train.txt pyproject.toml
	$(call make_venv,requirements-train.txt)
	@touch $@

# data/ when it is the data directory and is missing; a failed download is not fatal:
# the app still reads uploads, and the tests that need GRID data skip, saying why.
ensure-data: setup-run
	@if [ ! -d "$(LIPREAD_DATA_DIR)/s1" ]; then \
	  if [ "$(LIPREAD_DATA_DIR)" = data ]; then \
	    $(PY) -m lipread download data --dest data || \
	      echo "make: no GRID data in data/ (see above); set LIPREAD_DATA_DIR to a copy" >&2; \
	  else echo "make: LIPREAD_DATA_DIR=$(LIPREAD_DATA_DIR) has no s1/ folder" >&2; fi; \
	fi

run: setup-run ensure-data
	$(PY) -m streamlit run app.py $(STREAMLIT_ARGS)

test: setup browser-deps ensure-data
	$(PY) -m pytest $(PYTEST_ARGS)

# The tests that read GRID data (marked `grid` by tests/conftest.py) must hold on any
# folder laid out like the tutorial's data, not only on the one they were written against:
# they run again on a fresh temporary copy of $(LIPREAD_DATA_DIR) made the way a download
# lands (.mpg only, test clips as they are, LAYOUT_TRAIN_CLIPS training clips re-encoded to
# MPEG-1, splits by lipread download's write_splits), removed afterwards.
test-layout: setup
	@layout=$$(mktemp -d "$${TMPDIR:-/tmp}/lipread-layout.XXXXXX") && \
	trap 'rm -rf "$$layout"' EXIT && \
	echo "make: a download-like copy of $(LIPREAD_DATA_DIR) in $$layout" && \
	$(PY) tests/make_download_layout.py --src "$(LIPREAD_DATA_DIR)" --dest "$$layout" \
	  --train-clips $(LAYOUT_TRAIN_CLIPS) && \
	LIPREAD_DATA_DIR="$$layout" $(PY) -m pytest $(LAYOUT_PYTEST_ARGS)

# Debian's chromium for the browser test (Playwright drives /usr/bin/chromium; it never
# downloads a browser). Installed as root when missing; otherwise that test skips. In CI
# a failed install is fatal, so that the browser test cannot silently drop out.
browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "make: installing $(BROWSER_PACKAGES) for the browser test"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; } || \
	  { echo "make: could not install $(BROWSER_PACKAGES)" >&2; [ -z "$$CI" ]; }; \
	else \
	  echo "make: no /usr/bin/chromium (sudo apt-get install chromium): the browser test will skip" >&2; \
	fi

data: setup-run
	$(PY) -m lipread download data --dest "$(LIPREAD_DATA_DIR)"

checkpoint: setup-run
	$(PY) -m lipread download checkpoint --dest models

train: setup-run
	$(PY) -m lipread train --data-dir "$(LIPREAD_DATA_DIR)" --run-dir "$(RUN_DIR)" $(TRAIN_ARGS)

evaluate: setup-run
	@mkdir -p artifacts
	@for d in greedy beam grammar; do \
	  $(PY) -m lipread evaluate --data-dir "$(LIPREAD_DATA_DIR)" \
	    --names "$(LIPREAD_DATA_DIR)/splits/test.txt" --decoder $$d \
	    --json artifacts/eval-$$d.json $(EVAL_ARGS) || exit 1; \
	done

# models/metrics.json (the app's sidebar figures) from the three evaluations above.
metrics: evaluate
	$(PY) -c "import json; json.dump({d: {k: json.load(open(f'artifacts/eval-{d}.json'))[k] \
	  for k in ('wer', 'cer', 'clips')} for d in ('greedy', 'beam', 'grammar')}, \
	  open('models/metrics.json', 'w'), indent=1)"

predict: setup-run
	$(PY) -m lipread predict "$(VIDEO)" --decoder $(DECODER) $(PREDICT_ARGS)

# The enrollment study (experiments/README.md): settings chosen on each of s26 and s31 and
# reported on the other; resumable (artifacts/enroll-study.jsonl). Then nine clips
# leave-one-out for each of NINE_CLIPS on both speakers, and the default's learning curve
# (~1.5 h more). Then the probes on s26 (PROBES_S26), the lowest of them (body) and the
# default's other seeds on s31 (PROBES_S31) (~1.5 h more). The speakers' clips come from
# OTHERS_DIR; configurations that rehearse draw s1's from LIPREAD_DATA_DIR.
NINE_CLIPS := adapters:1e-3:auto:40 full:1e-4:auto:40 full:1e-4:auto:80 full:2e-4:auto:80 auto
SEEDS := full:2e-4:auto:80:seed=1 full:2e-4:auto:80:seed=2
PROBES_S26 := full:3e-4:auto:80 full:2e-4:auto:80:rehearse=4 \
  full:2e-4:auto:80:average_from=40 body:2e-4:auto:80 $(SEEDS)
PROBES_S31 := body:2e-4:auto:80 $(SEEDS)
OTHERS_DIR ?= ../shared/others
STUDY := $(PY) -m experiments enroll
enroll-study: setup-run
	@mkdir -p artifacts
	$(STUDY) choose --speaker s26 --data-dir "$(OTHERS_DIR)"
	$(STUDY) choose --speaker s31 --data-dir "$(OTHERS_DIR)"
	for pair in s26:s31 s31:s26; do \
	  config=$$($(STUDY) chosen --speaker $${pair%:*}) && \
	  $(STUDY) report --speaker $${pair#*:} --config $$config --data-dir "$(OTHERS_DIR)" && \
	  $(STUDY) curve --speaker $${pair#*:} --config $$config --data-dir "$(OTHERS_DIR)" || exit 1; \
	done
	for c in $(NINE_CLIPS); do for s in s26 s31; do \
	  $(STUDY) report --speaker $$s --config $$c --data-dir "$(OTHERS_DIR)" || exit 1; \
	done; done
	for s in s26 s31; do \
	  $(STUDY) curve --speaker $$s --config full:2e-4:auto:80 --data-dir "$(OTHERS_DIR)" || exit 1; \
	done
	for c in $(PROBES_S26); do \
	  $(STUDY) report --speaker s26 --config $$c --data-dir "$(OTHERS_DIR)" || exit 1; done
	for c in $(PROBES_S31); do \
	  $(STUDY) report --speaker s31 --config $$c --data-dir "$(OTHERS_DIR)" || exit 1; done
	$(STUDY) summary

# Mutation testing (not in CI): mutmut changes one thing at a time in the modules that
# pyproject.toml's [tool.mutmut] names (decoders, confidence, scores, video reader and its
# feeds, file checks, mouth crop, losses, archive checks, flag types, GRID's files and
# names, Live's segmenter) and runs the tests that reach it; tests/mutation_report.py then
# gives each module's kill rate and every survivor not known to be equivalent (exit 1 if
# any). MUTANTS: mutmut's name patterns, e.g. MUTANTS='lipread.decoding.*' (all when
# empty); the whole set is ~3100 mutants, hours
# on 2 cores (docs/testing.md). mutants/ holds the run (ignored).
MUTANTS ?=
mutate: setup
	@rm -f mutants/stats-failures.txt
	-LIPREAD_DATA_DIR="$(abspath $(LIPREAD_DATA_DIR))" LIPREAD_OTHERS_DIR="$(abspath $(OTHERS_DIR))" \
	  MUTATE_PARTS="$(MUTANTS)" $(VENV)/bin/mutmut run $(foreach m,$(MUTANTS),'$(m)')
	@test ! -s mutants/stats-failures.txt || { echo "make mutate: a test failed in mutmut's \
	  first pass (mutants/stats-failures.txt):" >&2; cat mutants/stats-failures.txt >&2; exit 1; }
	$(PY) tests/mutation_report.py

# Both benchmarks (benchmarks/README.md) drive Chromium with playwright (the test set):
# `setup`, not `setup-run`. --sizes installs each requirements set into a temp venv
# (minutes, from PyPI). Chromium: $CHROMIUM, else chromium on PATH.
bench: setup browser-deps
	@mkdir -p artifacts
	$(PY) -m benchmarks --sizes --data-dir "$(LIPREAD_DATA_DIR)" --json artifacts/bench.json $(BENCH_ARGS)

# The Live page through Chromium's fake camera: preview fps, CPU, latency, live vs predict WER.
bench-live: setup browser-deps
	@mkdir -p artifacts
	$(PY) -m benchmarks --live --data-dir "$(LIPREAD_DATA_DIR)" --json artifacts/live-bench.json $(BENCH_ARGS)
