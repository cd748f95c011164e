# Two entry points for a fresh machine with Python 3.11+ and git: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.run-deps

## Run the server on the embedded SQLite database, with the Contoso/Fabrikam demo.
run: $(VENV)/.run-deps
	$(BIN)/hospes serve --demo --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

## Lint, type-check, check the layer contracts and run the whole test suite (PostgreSQL too when
## HOSPES_TEST_POSTGRES_URL is set), one pytest worker per CPU core, each with its own databases.
## PYTEST_WORKERS=0 runs the tests in the make process's own pytest.
PYTEST_WORKERS ?= auto
test: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) data
