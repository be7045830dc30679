# Two commands on a fresh machine: `make demo` runs the whole job, `make test` the tests.
# Each creates .venv if it is missing and installs what it needs; a second call installs nothing.

PYTHON ?= python3
VENV ?= .venv
# The CPU build of torch, named explicitly: a bare dependency on torch pulls several GB of CUDA.
# For a GPU machine: make TORCH=torch (or install by hand, see the README).
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.theta-installed
DEMO_DIR ?= theta-demo

.PHONY: venv test demo lint clean

venv: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || { \
	  echo "make: '$(PYTHON) -m venv' is not available: install it (Debian/Ubuntu: apt-get install python3-venv; or run make PYTHON=/path/to/python3.10+)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-installs only when pyproject.toml changes (or TORCH is changed by hand: delete the stamp).
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check theta_cli tests benchmarks examples

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/theta demo --dir $(DEMO_DIR)
	@echo
	@echo 'theta lives in $(VENV); to use it from this shell:'
	@echo '  . $(BIN)/activate'
	@echo '  theta --models-dir $(DEMO_DIR)/models info'

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
