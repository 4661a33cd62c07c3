# The two commands of the README: `make serve` and `make test`. Both create .venv themselves:
# `serve` with the runtime dependencies only, `test` adds the test toolchain (.[test]).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make serve DB=other.db PORT=8001`; unset, the SCIMLITE_DB_PATH/SCIMLITE_PORT variables or
# the defaults (scimlite.db, 8000) apply.
DB ?=
PORT ?=
DIST ?= dist
BUILD ?= build
DIST_VENV := $(BUILD)/dist-venv

.PHONY: serve test lint typecheck unit demo-db dist clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

serve: $(BIN)/.installed
	$(BIN)/scimlite serve $(if $(DB),--db $(DB)) $(if $(PORT),--port $(PORT))

lint: $(BIN)/.installed-test
	$(BIN)/ruff check scimlite tests benchmarks
	$(BIN)/ruff format --check scimlite tests benchmarks

typecheck: $(BIN)/.installed-test
	$(BIN)/mypy

unit: $(BIN)/.installed-test
	$(BIN)/pytest

test: lint typecheck unit

demo-db: $(BIN)/.installed
	$(BIN)/scimlite demo-db scimlite.db.example --force

# Only when missing: the committed file is regenerated on purpose, by `make demo-db`.
scimlite.db.example:
	$(MAKE) demo-db

# The wheel and the one-file binary (PyInstaller, see docs/distribution.md), in $(DIST)/.
# The binary is built from the installed wheel, so it holds exactly what the wheel ships.
dist: scimlite.db.example
	rm -rf $(DIST) $(DIST_VENV) $(BUILD)/pyinstaller
	$(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip install -q 'pyinstaller>=6.10,<7'
	$(DIST_VENV)/bin/python -m pip wheel -q --no-deps -w $(DIST) .
	$(DIST_VENV)/bin/python -m pip install -q $(DIST)/scimlite-*.whl
	$(DIST_VENV)/bin/pyinstaller --onefile --name scimlite --collect-data scimlite \
	  --distpath $(DIST) --workpath $(BUILD)/pyinstaller --specpath $(BUILD)/pyinstaller \
	  --noconfirm --log-level WARN \
	  "$$($(DIST_VENV)/bin/python -c 'import scimlite, pathlib; print(pathlib.Path(scimlite.__file__).with_name("__main__.py"))')"
	$(DIST)/scimlite --version

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
