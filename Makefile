# The two commands in the README: `make tour` and `make test`.
# Each sets everything up from nothing (a virtualenv in .venv) and runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= results

.PHONY: setup tour test test-fast test-slow test-install lint bench clean notebook

$(BIN)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $@

setup: $(BIN)/.installed

tour: setup
	$(BIN)/simcache tour --out $(OUT)

test: setup
	$(BIN)/python -m pytest -n 2 -m "not slow" -q

test-slow: setup
	$(BIN)/python -m pytest -n 2 -q

# builds the wheel, installs it into a temporary virtualenv and runs models, sweeps and the tour from elsewhere
test-install: setup
	$(BIN)/python -m pytest -q -m slow tests/test_install.py

# re-executes notebooks/getting-started.ipynb at full size and stores it with its outputs
# (tests/notebooks checks that the stored outputs are what it computes)
notebook: setup
	$(BIN)/python notebooks/make_getting_started.py

lint: setup
	$(BIN)/ruff check simcache tests models experiments benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
