# normlaws: `make verify` runs the main job, `make test` the test suite. Both create .venv and install first.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
OUT     ?= out/report

.PHONY: verify test lint test-slow test-thorough bench clean

# mypy runs on theory and the core (tests/test_architecture.py runs the same two commands)
MYPY_ARGS := -p normlaws.theory -m normlaws.errors -m normlaws.validate -m normlaws.schema -m normlaws.records \
             -m normlaws.leases -m normlaws.conventions -m normlaws.rules -m normlaws.outcome -m normlaws.progress

# torch==2.13.0 first: on these machines it is a local CPU build; any other spec may download several GB.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[all,cluster]'
	touch $(STAMP)

# a TeX engine for the PDF: installed when missing and the machine allows it (scripts/ensure-tex says what it does)
verify: $(STAMP)
	@scripts/ensure-tex
	$(BIN)/normlaws verify --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy $(MYPY_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q --run-slow

test-thorough: $(STAMP)
	$(BIN)/python -m pytest -q --hypothesis-profile=thorough tests/test_properties_*.py tests/test_testing_api.py

bench: $(STAMP)
	$(BIN)/normlaws derive --timings
	NORMLAWS_CACHE=off $(BIN)/normlaws derive --timings --repeat 3
	$(BIN)/normlaws simulate --bench
	$(BIN)/normlaws bench --device cpu

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis .benchmarks
