# brushlab: two commands do all set-up on a fresh machine.
#   make demo              install into .venv and open the quickstart notebook in JupyterLab
#   make demo HEADLESS=1   run the quickstart pipeline without a browser (writes demo_output/)
#   make test              install and run every check: ruff, mypy, import contracts, the
#                          unit and browser tests (also with torch hidden), and every
#                          notebook (nbmake)
#   make test-min          the core tests against the declared minimum versions (.venv-min)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HEADLESS ?=
PORT ?= 8888

.PHONY: test test-min demo lint typecheck imports unit unit-notorch notebooks bench clean

# Real data (read-only) for the accuracy tests and notebooks, when ../shared/data exists.
# Absolute: nbmake runs each notebook's kernel inside notebooks/.
ifeq ($(BRUSHLAB_DATA),)
ifneq ($(wildcard ../shared/data),)
export BRUSHLAB_DATA := $(abspath ../shared/data)
endif
endif

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@# torch pinned: the CPU build these machines carry (an unpinned torch pulls the CUDA build)
	$(BIN)/python -m pip install --quiet -e ".[test,bench,train]" "torch==2.13.*"
	touch $@

# make demo installs what the demo needs (the notebook extras), not the test toolchain.
$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[notebook]"
	touch $@

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

imports: $(VENV)/.installed-test
	$(BIN)/lint-imports

# Unit tests, including the real-browser tests (tests/test_browser.py: chromium + Playwright).
unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# The tests that touch brushlab.network again, as on an install without brushlab[train]:
# BRUSHLAB_HIDE_TORCH=1 makes `import torch` fail (tests/hidden_torch.py). Tests that train
# skip, naming pip install "brushlab[train]"; saved networks (ONNX inference, projects,
# brushlab predict/info, Model Zoo export) and the errors of training without torch must
# pass. No `|| true`: any failure, or pytest's exit code 5 (no test ran), fails make.
NOTORCH_TESTS := tests/test_network*.py tests/test_architecture.py tests/test_cli.py \
	tests/test_session.py tests/test_project.py tests/test_models_registry.py \
	tests/test_widgets.py tests/test_doctests.py
unit-notorch: $(VENV)/.installed-test
	BRUSHLAB_HIDE_TORCH=1 $(BIN)/python -m pytest -q -rs -p no:cacheprovider $(NOTORCH_TESTS)

# Every notebook, top to bottom, headless (painting cells have a headless equivalent).
notebooks: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbmake --nbmake-timeout=300 notebooks/*.ipynb

test: lint typecheck imports unit unit-notorch notebooks

# The floors are true: every core dependency pinned to its ">=" version in pyproject.toml
# (.ci/min_constraints.py), binary wheels only, then the core tests (marker "core",
# tests/conftest.py), which need nothing outside the core dependencies but pytest.
MIN_VENV := .venv-min
$(MIN_VENV)/.installed: pyproject.toml .ci/min_constraints.py
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) .ci/min_constraints.py pyproject.toml > $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/python -m pip install --quiet --only-binary=:all: \
		--constraint $(MIN_VENV)/constraints.txt -e . "pytest>=7"
	touch $@

test-min: $(MIN_VENV)/.installed
	$(MIN_VENV)/bin/python -m pip check
	BRUSHLAB_CORE_ONLY=1 $(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider -m core

ifeq ($(HEADLESS),)
demo: $(VENV)/.installed-demo
	$(BIN)/python -m brushlab.demo --check
	@echo "Opening JupyterLab on notebooks/01_quickstart.ipynb (Ctrl-C to stop)."
	@echo "No browser here? Open the http://127.0.0.1:$(PORT)/lab?token=... URL printed below."
	$(BIN)/jupyter lab notebooks/01_quickstart.ipynb --ip=127.0.0.1 --port=$(PORT) \
		$(if $(filter 0,$(shell id -u)),--allow-root,)
else
demo: $(VENV)/.installed-demo
	$(BIN)/python -m brushlab.demo --out demo_output
endif

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) $(MIN_VENV) demo_output notebooks/demo_output notebooks/notebook_output \
		.pytest_cache .mypy_cache .ruff_cache
