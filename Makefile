# Outreach: `make run` serves the bot with the simulator; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

export OUTREACH_ENV ?= dev

.PHONY: run test check test-sqlite test-postgres i18n i18n-compile bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP) i18n-compile
	mkdir -p var
	$(VENV)/bin/outreach db upgrade
	$(VENV)/bin/outreach content check
	$(VENV)/bin/outreach serve

test: check test-sqlite test-postgres

# Static checks: pyflakes-level lint everywhere, types on the service code, the layers
# and no package cycles (import-linter, configured in pyproject.toml).
check: $(STAMP)
	$(VENV)/bin/ruff check bot outreach content tests bench
	$(VENV)/bin/mypy bot outreach content
	$(VENV)/bin/lint-imports

test-sqlite: $(STAMP) i18n-compile
	$(PY) -m pytest -q

# On CI PostgreSQL must be there; elsewhere the run skips, saying why, if it is not.
test-postgres: $(STAMP) i18n-compile
	OUTREACH_TEST_DATABASE_URL=$(PG_URL) $(PY) -m pytest -q

i18n: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k tx -k both --no-location --sort-output \
		--project=outreach --copyright-holder="Outreach contributors" -o locales/messages.pot .
	$(VENV)/bin/pybabel update -i locales/messages.pot -d locales --no-fuzzy-matching
	$(MAKE) i18n-compile

i18n-compile: $(STAMP)
	$(VENV)/bin/pybabel compile -d locales --statistics

# Every suite (about 10 minutes); e.g. BENCH_ARGS="--quick" or "--suite schedule,dispatch".
bench: $(STAMP) i18n-compile
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
