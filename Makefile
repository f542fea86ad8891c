# Fresh machine:  make train   (simulate the toy dataset if missing, train configs/gamma.yml)
#                 make test    (the test suite)
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/gamma.yml

.PHONY: test test-slow train simulate bench clean-venv

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: $(PYTHON) not found on PATH; ctgans needs Python 3.12" \
	       "(pyenv users: the .python-version file selects it)" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

simulate: $(STAMP)
	$(BIN)/python -m ctgans.simulate

train: $(STAMP)
	$(BIN)/python -m ctgans.train $(CONFIG)

bench: $(STAMP)
	$(BIN)/python bench/data_pipeline.py
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/generate.py

clean-venv:
	rm -rf $(VENV)
