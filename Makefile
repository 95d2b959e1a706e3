# Two commands set up everything on a fresh machine:
#   make demo   -> .venv, install, render the offline demo ad end to end
#   make test   -> install the test dependencies and run the whole suite (unit, CLI, notebooks)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
DEMO_DIR ?= demo-output

.PHONY: demo test bench venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip setuptools wheel
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -e '.[test]'
	touch $@

# moviepy is only the naive baseline; it pins pillow<12, so take it without its pins.
$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml
	$(PIP) install --no-deps 'moviepy>=2.1'
	$(PIP) install decorator imageio proglog python-dotenv
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/nbvideo demo $(DEMO_DIR)

test: $(VENV)/.installed-test
	$(PY) -m pytest tests
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider notebooks

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
