# The course's commands. `make lab` opens the course, `make test` runs every test.
# Both create the virtual environment .venv on first use (Python 3.11 needed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NBVAL := $(BIN)/pytest --nbval -p no:cacheprovider --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NB ?= $(NOTEBOOKS)
NPM_STAMP := build/npm/.installed

.PHONY: setup lab test lint unit nbval notebooks bench train-mnist train-diffusion clean book slides student web ablation

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
	$(MAKE) --no-print-directory lint unit nbval web

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: setup
	$(BIN)/pytest tests -q -m "not web"

# All notebooks, or one: make nbval NB=notebooks/01_energy_networks.ipynb
nbval: setup
	$(NBVAL) $(NB)

# Regenerate each .ipynb from its .py source and execute it (commit both afterwards).
notebooks: setup
	@for py in $(sort $(wildcard notebooks/*.py)); do \
		echo "executing $$py"; \
		$(BIN)/jupytext --to ipynb --execute "$$py" || exit 1; \
	done

# The JavaScript that the website and the slides serve themselves (book/package.json).
$(NPM_STAMP): book/package.json book/package-lock.json
	mkdir -p build/npm
	cp book/package.json book/package-lock.json build/npm/
	cd build/npm && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# The website (Jupyter Book 1, the notebooks' stored outputs) into build/book/_build/html.
book: setup $(NPM_STAMP)
	$(BIN)/python book/build.py

# reveal.js slide decks of the notebooks into build/slides (open build/slides/index.html).
slides: setup $(NPM_STAMP)
	$(BIN)/python book/slides.py

# The notebooks without solutions or outputs, for a class, into build/student.
student: setup
	$(BIN)/python book/student.py

# Build those three, then test them: the student versions run, and chromium checks the
# website, the slides and JupyterLab (tests/web; screenshots in build/screenshots).
web: book slides student
	$(BIN)/pytest tests/web -q -p no:cacheprovider -m web

# The replay-buffer ablation of notebook 4 (about 10 min on one core) into its committed results file.
ablation: setup
	$(BIN)/python -m ebm_lib.toy2d.ablation --out notebooks/results/buffer_ablation.json

bench: setup
	$(BIN)/python benchmarks/bench.py

# The course's MNIST energy model (python -m ebm_lib.mnist.train --help for the settings):
# the full, resumable checkpoint in build/, a small copy to ship in notebooks/checkpoints/.
# The shipped model's command (notebooks/checkpoints/README.md); on a CPU without bfloat16 units
# add TRAIN_ARGS=--no-bfloat16.
train-mnist: setup
	$(BIN)/python -m ebm_lib.mnist.train --out build/mnist_ebm_train.pt --ship notebooks/checkpoints/mnist_ebm.pt \
		--minutes 30 --bfloat16 --seed 1 --ship-ema $(TRAIN_ARGS)

# Notebook 6's noise-conditional MNIST energy (python -m ebm_lib.diffusion.train --help).
train-diffusion: setup
	$(BIN)/python -m ebm_lib.diffusion.train --out build/mnist_ncsn_train.pt --ship notebooks/checkpoints/mnist_ncsn.pt \
		--minutes 30 $(TRAIN_ARGS)

clean:
	rm -rf build book/_build .pytest_cache .ruff_cache
