# Channel Gateway: `make run` starts the gateway on the embedded default config, `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(wildcard plugins/*/pyproject.toml)
STAMP := $(VENV)/.installed

.PHONY: run test lint docs bench clean

$(STAMP): pyproject.toml $(PLUGINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(foreach p,$(dir $(PLUGINS)),-e $(p))
	touch $@

run: $(STAMP)
	$(BIN)/gateway serve --config config/gateway.yaml

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks (docs/benchmarks.md): needs wrk (apt-get install wrk) and 2 CPUs; ~8 minutes.
# `make bench BENCH_ARGS=--quick` is a 2.5-minute smoke run; --profile adds a py-spy profile.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

docs: $(STAMP)
	$(BIN)/python -m gateway.config_reference > docs/configuration.md

clean:
	rm -rf $(VENV) .gateway .mypy_cache .ruff_cache .pytest_cache
