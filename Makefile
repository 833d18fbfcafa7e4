# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format clean

# The virtualenv is rebuilt whenever pyproject.toml changes.
$(BIN)/redline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The daemon and the HTTP service in one process; it prints the feed URL. The schema
# is brought up to date first (a database made by an older redline is upgraded).
run: $(BIN)/redline
	$(BIN)/redline --config redline.toml db upgrade
	$(BIN)/redline run --serve --config redline.toml

# Two test processes: most tests wait on subprocesses, servers and the database, and
# every database test runs on SQLite and PostgreSQL (pytest-xdist; see README).
test: $(BIN)/redline
	$(BIN)/pytest -n 2

lint: $(BIN)/redline
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/redline
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache
