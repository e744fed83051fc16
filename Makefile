# User entry points. Every target creates (or reuses) the virtual environment itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Data directory: ../shared/data on the project's machines, ./data elsewhere.
ifneq ($(wildcard ../shared/data),)
export LSTM_TWINS_DATA ?= $(abspath ../shared/data)
endif
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: install test test-slow parity data compare compare-all sweep readme bench check clean clean-cache

TASK ?= mnist
QUICK ?=
RESUME ?=
SEEDS ?=
CONFIG ?=
DOWNLOAD ?=
JOBS ?= 1
RAY ?=
THREADS ?=
TWINS ?=
TWIN ?=
EPOCHS ?=
# A switch (QUICK, RESUME, DOWNLOAD, EPOCHS) is on for 1, yes, true or on, off for 0, no, false, off or empty;
# any other value stops make with one line before anything runs.
TRUE := 1 y yes true on Y Yes YES True TRUE On ON
FALSE := 0 n no false off N No NO False FALSE Off OFF
on = $(if $(filter-out $(TRUE) $(FALSE),$($(1))),$(error $(1)=$($(1)) is neither on (1, yes, true, on) nor off \
(0, no, false, off, or empty)),$(filter $(TRUE),$($(1))))
SWITCHES_CHECKED := $(foreach switch,QUICK RESUME DOWNLOAD EPOCHS,$(call on,$(switch)))
SWEEP_OPTIONS = $(if $(RAY),--ray $(RAY),--jobs $(JOBS)) $(if $(THREADS),--threads-per-run $(THREADS))
TWINS_OPTION = $(if $(TWINS),--twins $(TWINS))
RUN_OPTIONS = $(if $(call on,QUICK),--quick) $(if $(call on,RESUME),--resume) $(if $(SEEDS),--seeds $(SEEDS)) \
	$(TWINS_OPTION)

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

parity: $(STAMP)
	$(PY) -m harness parity

data: $(STAMP)
	$(PY) -m harness data $(if $(call on,DOWNLOAD),--download)

compare: $(STAMP)
	$(PY) -m harness compare --task $(TASK) $(RUN_OPTIONS) $(if $(CONFIG),--config $(CONFIG))

compare-all: $(STAMP)
	for task in $$($(PY) -m harness tasks); do $(PY) -m harness compare --task $$task $(RUN_OPTIONS) || exit $$?; done

sweep: $(STAMP)
	$(PY) -m harness sweep $(if $(CONFIG),--config $(CONFIG),--task $(TASK)) $(RUN_OPTIONS) $(SWEEP_OPTIONS)

bench: $(STAMP)
	$(PY) -m harness bench $(TWINS_OPTION) $(if $(call on,EPOCHS),--epochs)
	$(PY) -m harness readme

check: $(STAMP)
	$(if $(TWIN),,$(error name the twin to check: make check TWIN=path/to/my_lstm.py (or a module, or numpy, pytorch, tensorflow)))
	$(PY) -m harness check $(TWIN)

readme: $(STAMP)
	$(PY) -m harness readme

clean:
	rm -rf $(VENV) .pytest_cache

clean-cache: $(STAMP)
	$(PY) -m harness clean-cache
