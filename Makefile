# One task runner: the README's commands are these targets. `make help` lists them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install up test test-fast lint-catalog generate check fmt typecheck bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# Diagrams in notebooks need Graphviz's `dot`; without it they fall back to mermaid text.
	-@command -v dot >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get install -y -q graphviz >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q graphviz >/dev/null)) || echo "graphviz not installed: diagrams fall back to mermaid text"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install everything (run by every other target)

up: $(STAMP) ## run the whole platform: embedded NATS, SQLite, simulators, gateway on :8080
	$(VENV)/bin/acme up

test: $(STAMP) ## the CI suite: catalog lint, drift check, code lint and types, tests
	$(PY) -m generator lint --strict catalog
	$(PY) -m generator check catalog
	$(VENV)/bin/ruff check generator acme tests benchmarks
	$(VENV)/bin/mypy generator generated acme
	$(PY) -m pytest -q

test-fast: $(STAMP) ## tests without the end-to-end ones
	$(PY) -m pytest -q -m "not e2e and not slow"

lint-catalog: $(STAMP) ## lint catalog/ (path:line errors)
	$(PY) -m generator lint --strict catalog

generate: $(STAMP) ## regenerate generated/ from catalog/
	$(PY) -m generator generate catalog --out generated

check: $(STAMP) ## fail when generated/ is stale or edited by hand
	$(PY) -m generator check catalog

fmt: $(STAMP) ## format hand-written code
	$(VENV)/bin/ruff format generator acme tests benchmarks
	$(VENV)/bin/ruff check --fix generator acme tests benchmarks

typecheck: $(STAMP) ## mypy --strict on the generator, the generated code and the platform
	$(VENV)/bin/mypy generator generated acme

bench: $(STAMP) ## checkout benchmark (prints figures and ratios)
	$(PY) -m benchmarks.checkout

clean: ## remove runtime data (SQLite files, JetStream store)
	rm -rf data

conformance: $(STAMP) ## conformance + systems + e2e + faults on each broker/database (scripts/conformance.sh)
	scripts/conformance.sh $(CONFIGS)

.PHONY: faults
faults: $(STAMP) ## fault suite on the whole platform (~6 min; ACME_TEST_BROKER_URL/_DATABASE_URL honoured)
	$(PY) -m tests.faults

.PHONY: bench-generator
bench-generator: $(STAMP) ## generator benchmark: cold lint/generate, 50x catalog, CLI ratio
	$(PY) -m benchmarks.generator
