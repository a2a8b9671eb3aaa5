# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SERVING := $(VENV)/.serving
export DATABASE_URL ?= sqlite+aiosqlite:///./quire.db

.PHONY: serving install run migrate seed reseed create-admin check-services test test-sqlite lint typecheck check schema release-schema bench profile container-steps load clean

# Serving needs the runtime dependencies and GraphiQL's browser bundles only; everything
# else (tests, linters, load tools, the client libraries the docs' snippets use) comes with
# `make install`, which `make test` and the other development targets depend on.
$(SERVING): pyproject.toml package.json package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --omit=dev --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: GraphiQL will load its assets from the CDN"; \
	fi
	touch $(SERVING)

$(INSTALLED): $(SERVING) tests/clients/package.json tests/clients/package-lock.json
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error; \
		npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error; \
	fi
	touch $(INSTALLED)

serving: $(SERVING)

install: $(INSTALLED)

migrate: serving
	$(BIN)/quire migrate

seed: migrate
	$(BIN)/quire seed --if-empty

# The demo publication again, with new demo passwords (deletes every post, comment and user).
reseed: migrate
	$(BIN)/quire seed --reset

run: seed
	$(BIN)/quire serve

# Operator commands (the `quire` CLI is .venv/bin/quire).
# ADMIN_ prefixed: USERNAME and EMAIL are often set in a shell's environment already.
create-admin: serving
	@test -n "$(ADMIN_USERNAME)" -a -n "$(ADMIN_EMAIL)" || \
		{ echo "usage: make create-admin ADMIN_USERNAME=name ADMIN_EMAIL=address"; exit 2; }
	$(BIN)/quire create-admin --username "$(ADMIN_USERNAME)" --email "$(ADMIN_EMAIL)"

check-services: serving
	$(BIN)/quire check

test: install
	$(BIN)/pytest

test-sqlite: install
	$(BIN)/pytest -k "sqlite or not postgresql"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

check: lint typecheck test

schema: install
	$(BIN)/quire export-schema

# On a release: the schema shipped clients are built against, which CI protects
# (quire check-documents) together with schema/trusted-documents.json.
release-schema: schema
	cp schema.graphql schema/released.graphql

container-steps:
	bash .ci/container-steps

LOAD_HOST ?= http://127.0.0.1:8000
LOAD_ARGS ?= --headless -u 20 -r 5 -t 1m
load: install
	$(BIN)/locust -f bench/locustfile.py --host $(LOAD_HOST) $(LOAD_ARGS)

bench: install
	bash bench/run.sh

# py-spy on one Quire worker under (b)'s load; the profile goes to bench/results/.
profile: install
	bash bench/run.sh --profile

clean:
	rm -rf $(VENV) node_modules bench/node_modules tests/clients/node_modules quire.db quire.db-wal quire.db-shm
