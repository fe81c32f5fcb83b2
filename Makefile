# The course's commands. `make lab` opens the course, `make test` runs every test.
# Both create the virtual environment .venv on first use (Python 3.11 needed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NBVAL := $(BIN)/pytest --nbval -p no:cacheprovider --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NB ?= $(NOTEBOOKS)

.PHONY: setup lab test lint unit nbval notebooks bench clean

setup: $(STAMP)

# Re-install when the requirements change; the stamp records a finished install.
$(STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install it, or run make PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer needed, found " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

test: setup
	$(MAKE) --no-print-directory lint unit nbval

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(BIN)/pytest tests -q

# All notebooks, or one: make nbval NB=notebooks/01_energy_networks.ipynb
nbval: setup
	$(NBVAL) $(NB)

# Regenerate each .ipynb from its .py source and execute it (commit both afterwards).
notebooks: setup
	@for py in $(sort $(wildcard notebooks/*.py)); do \
		echo "executing $$py"; \
		$(BIN)/jupytext --to ipynb --update --execute "$$py" || exit 1; \
	done

bench: setup
	$(BIN)/python -m ebm_lib.bench

clean:
	rm -rf build book/_build .pytest_cache .ruff_cache
