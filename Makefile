# Channel Gateway: `make run` starts the gateway on the embedded default config, `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
STAMP := $(VENV)/.installed

.PHONY: run test lint docs bench bench-instructions clean

$(STAMP): pyproject.toml $(PLUGINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(foreach p,$(dir $(PLUGINS)),-e '$(p)[test]')
	touch $@

run: $(STAMP)
	$(BIN)/gateway serve --config config/gateway.yaml

# Each plugin is tested and type-checked from its own folder, as its author would. The store
# suite runs on PostgreSQL too: .ci/postgres starts the machine's server if it is stopped.
test: $(STAMP)
	.ci/postgres
	$(BIN)/pytest
	@for p in $(dir $(PLUGINS)); do echo "== $$p"; (cd $$p && $(CURDIR)/$(BIN)/pytest) || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@for p in $(dir $(PLUGINS)); do echo "== $$p"; (cd $$p && $(CURDIR)/$(BIN)/mypy) || exit 1; done

# Benchmarks (docs/benchmarks.md): needs wrk (apt-get install wrk) and 2 CPUs; ~8 minutes.
# `make bench BENCH_ARGS=--quick` prints the same summary in under 3 minutes; --profile adds a
# py-spy profile; --postgres runs the PostgreSQL bench instead (needs the local server; ~7 min,
# with --quick ~2).
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Instructions per request under valgrind's callgrind (needs valgrind; ~3 minutes): the stable
# meter for A/B decisions. BENCH_ARGS=--compare REV also measures gateway/ of commit REV.
bench-instructions: $(STAMP)
	$(BIN)/python bench/instructions.py $(BENCH_ARGS)

docs: $(STAMP)
	$(BIN)/python -m gateway.config_reference > docs/configuration.md

clean:
	rm -rf $(VENV) .gateway .mypy_cache .ruff_cache .pytest_cache
