# Every target sets itself up: a virtual environment in .venv with the package and test tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit compat bench soak generate check-generated clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kbroker serve

test: $(STAMP)
	$(BIN)/python tools/generate_schema.py --check
	$(BIN)/pytest -n auto -q tests compat-tests

unit: $(STAMP)
	$(BIN)/pytest -n auto -q tests

compat: $(STAMP)
	$(BIN)/pytest -n auto -q compat-tests

bench: $(STAMP)
	$(BIN)/python -m bench

generate: $(STAMP)
	$(BIN)/python tools/generate_schema.py

clean:
	rm -rf $(VENV) build src/*.egg-info
