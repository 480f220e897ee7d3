# Two entry points do all set-up on a fresh machine (see README "Quick start").
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup train test test-slow clean

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
	WANDB_MODE=disabled $(BIN)/pytest -q -m slow $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .cache
