# Two entry points do all set-up on a fresh machine (see README "Quick start").
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup train test test-slow lint coverage clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

train: $(STAMP)  ## train the default experiment (DCGAN on the offline MNIST digits)
	$(BIN)/gan-zoo train $(ARGS)

test: $(STAMP)  ## the default (fast) suite
	WANDB_MODE=disabled $(BIN)/pytest -q $(ARGS)

test-slow: $(STAMP)  ## the slow checks (full training bars, DDP on two CPU processes)
	WANDB_MODE=disabled $(BIN)/pytest -q -m slow -n 0 $(ARGS)  # one process: the DDP runs start their own

coverage: $(STAMP)  ## the default suite with line coverage of gan_zoo (every module listed, even untested ones)
	WANDB_MODE=disabled $(BIN)/pytest -q --cov=gan_zoo --cov-report=term $(ARGS)

lint: $(STAMP)  ## ruff: the checks and the formatting, from the repository root
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) outputs multirun .cache
