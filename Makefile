# Every target sets itself up: a virtual environment in .venv with the package and test tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKAJS := compat-tests/kafkajs
KAFKAJS_STAMP := $(KAFKAJS)/node_modules/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: run test unit compat bench bench-replication bench-share bench-console bench-scale bench-connections bench-roll bench-stored soak generate check-generated clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# The bench's reference brokers beyond Tansu (noida-db), an optional extra.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

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

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

# 20,000 partitions on one broker: creation per batch, restart, Metadata, RSS (bench/scale.py).
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

# Many idle client connections: memory per connection, produce and latency with them held.
bench-connections: $(STAMP)
	$(BIN)/python -m bench.connections

# How long a segment roll holds the event loop, and produce p99/p99.9 across rolls, this tree against main (bench/roll_flush.py).
bench-roll: $(STAMP)
	$(BIN)/python -m bench.roll_flush

# One kbroker filled to 20 GB: produce, fetch, latency, RSS and restart at each quarter (bench/stored.py).
bench-stored: $(STAMP)
	$(BIN)/python -m bench.stored

# Three brokers on ZooKeeper (Debian's zookeeper package and Java): replication factor 3 against 1.
bench-replication: $(STAMP)
	$(BIN)/python -m bench.replication

bench-share: $(STAMP)
	$(BIN)/python -m bench.share

# The web console's pages with 1,000 topics and 10,000 partitions.
bench-console: $(STAMP)
	$(BIN)/python -m bench.console

# A few minutes of killed brokers under an idempotent acks=all producer; every acknowledged record is read back.
soak: $(STAMP)
	$(BIN)/python compat-tests/soak_cluster.py --minutes 3

generate: $(STAMP)
	$(BIN)/python tools/released_definitions.py
	$(BIN)/python tools/generate_schema.py

clean:
	rm -rf $(VENV) build src/*.egg-info $(KAFKAJS)/node_modules
