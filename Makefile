# The two commands of the README: `make serve` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DB ?= scimlite.db

.PHONY: serve test lint typecheck unit demo-db clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

serve: $(BIN)/.installed
	$(BIN)/scimlite serve --db $(DB)

lint: $(BIN)/.installed
	$(BIN)/ruff check scimlite tests benchmarks
	$(BIN)/ruff format --check scimlite tests benchmarks

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest

test: lint typecheck unit

demo-db: $(BIN)/.installed
	$(BIN)/scimlite demo-db scimlite.db.example --force

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
