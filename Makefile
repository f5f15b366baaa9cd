# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench lint browser letter-tools clean-data

$(VENV)/.runtime: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	scripts/install-node-packages
	touch $@

## Start everything (web, kiosk, staff UI, workers) on an embedded PostgreSQL with demo data.
run: $(VENV)/.runtime node_modules/.installed letter-tools
	$(BIN)/python -m scheduler serve --demo

## Run every test (unit, PostgreSQL, fake Twilio, SMTP, browser).
test: $(VENV)/.test node_modules/.installed browser letter-tools
	$(BIN)/python -m pytest

## Debian's chromium for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || scripts/install-chromium

## Debian's DejaVu fonts for letters, and pdftoppm for the letter test's picture.
letter-tools:
	@scripts/install-letter-tools

bench: $(VENV)/.test
	$(BIN)/python -m bench

lint: $(VENV)/.test
	$(BIN)/ruff check scheduler tests bench
	$(BIN)/mypy --strict scheduler/policy
	$(BIN)/lint-imports --no-cache
	$(BIN)/bandit -c pyproject.toml -r scheduler -q
	$(BIN)/python scripts/audit-dependencies

clean-data:
	rm -rf .data
