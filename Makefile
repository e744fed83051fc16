# User entry points. Every target creates (or reuses) the virtual environment itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Data directory: ../shared/data on the project's machines, ./data elsewhere.
ifneq ($(wildcard ../shared/data),)
export LSTM_TWINS_DATA ?= $(abspath ../shared/data)
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-slow parity data compare compare-all readme bench clean

TASK ?= mnist
QUICK ?=
RESUME ?=
SEEDS ?=
CONFIG ?=

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
	$(PY) -m harness data

compare: $(STAMP)
	$(PY) -m harness compare --task $(TASK) $(if $(QUICK),--quick) $(if $(RESUME),--resume) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(CONFIG),--config $(CONFIG))

compare-all: $(STAMP)
	for task in mnist imdb ptb_lm ptb_pos; do $(PY) -m harness compare --task $$task $(if $(QUICK),--quick) || exit $$?; done

bench: $(STAMP)
	$(PY) -m harness bench
	$(PY) -m harness readme

readme: $(STAMP)
	$(PY) -m harness readme

clean:
	rm -rf $(VENV) .pytest_cache
