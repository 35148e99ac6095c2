# Every target sets itself up: a virtual environment in .venv with the package and test tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKAJS := compat-tests/kafkajs
KAFKAJS_STAMP := $(KAFKAJS)/node_modules/.installed

.PHONY: run test unit compat bench soak generate check-generated clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# kafkajs for the compat-tests, pinned by its lock file.
$(KAFKAJS_STAMP): $(KAFKAJS)/package-lock.json
	cd $(KAFKAJS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(KAFKAJS_STAMP)

run: $(STAMP)
	$(BIN)/kbroker serve

test: $(STAMP) $(KAFKAJS_STAMP)
	$(BIN)/python tools/released_definitions.py --check
	$(BIN)/python tools/generate_schema.py --check
	$(BIN)/pytest -n auto -q tests compat-tests

unit: $(STAMP)
	$(BIN)/pytest -n auto -q tests

compat: $(STAMP) $(KAFKAJS_STAMP)
	$(BIN)/pytest -n auto -q compat-tests

bench: $(STAMP)
	$(BIN)/python -m bench

generate: $(STAMP)
	$(BIN)/python tools/released_definitions.py
	$(BIN)/python tools/generate_schema.py

clean:
	rm -rf $(VENV) build src/*.egg-info $(KAFKAJS)/node_modules
