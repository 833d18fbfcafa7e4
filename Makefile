# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test quick docs lint format clean bench bench-tools

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
# every database test runs on SQLite and PostgreSQL (pytest-xdist; see docs/development.md).
# worksteal: a process that runs out of tests takes some of the other's (the longest
# tests, crash trials and workers, last 10-16 s each; no process waits on the other).
test: $(BIN)/redline
	$(BIN)/pytest -n 2 --dist worksteal

# The suite without the tests marked slow (see pyproject.toml): for the edit-test loop;
# `make test` (and CI) still runs everything.
quick: $(BIN)/redline
	$(BIN)/pytest -n 2 --dist worksteal -m "not slow"

# Every benchmark, one after another, each replacing its section of bench/RESULTS.md
# (about 1.5 hours; run on an otherwise idle machine). Each also runs alone: see
# bench/README.md. Peers install themselves into bench/.peers on first use; nginx, wrk
# and git come from Debian's packages.
BENCHMARKS := bench_diff identity significance listing_noise bench_import bench_poll bench_serve \
	bench_memory bench_notify \
	bench_queries reliability crash_trials

bench: $(BIN)/redline bench-tools
	$(foreach b,$(BENCHMARKS),$(BIN)/python bench/$(b).py --write $(BENCH_ARGS_$(b)) &&) true

BENCH_ARGS_bench_import := --long

bench-tools:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { echo "bench needs nginx: apt-get install nginx-light"; exit 1; }
	@command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install wrk"; exit 1; }

# The manual (docs/, mkdocs.yml) as a site in site/; --strict makes a broken link or a
# page missing from the nav an error. tests/test_docs_manual.py builds it too.
docs: $(BIN)/redline
	$(BIN)/mkdocs build --strict

lint: $(BIN)/redline
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/redline
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache site
