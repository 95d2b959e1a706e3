# Two commands set up everything on a fresh machine:
#   make demo   -> .venv, install, render the offline demo ad end to end
#   make test   -> install the test dependencies and run the whole suite (unit, CLI, notebooks,
#                  the user guide's build and examples, JupyterLab in headless Chromium and a
#                  real JupyterHub; NBVIDEO_SKIP_BROWSER=1 skips the browser)
#   make test-fast -> unit and CLI tests only, in parallel: no video renders (marker `slow`), no
#                  browser, no notebooks, no docs build (see CONTRIBUTING.md)
#   make docs   -> build the user guide and API reference into site/ (open site/index.html)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
DEMO_DIR ?= demo-output
NBVIDEO_CHROMIUM ?= /usr/bin/chromium
export NBVIDEO_CHROMIUM

.PHONY: demo test test-fast docs docs-check bench venv clean chromium espeak fribidi chp

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip setuptools wheel
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -e '.[test,docs]'
	touch $(VENV)/.installed-docs $@

$(VENV)/.installed-docs: $(VENV)/.installed pyproject.toml
	$(PIP) install -e '.[docs]'
	touch $@

# moviepy is only the naive baseline; it pins pillow<12, so take it without its pins.
$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml
	$(PIP) install --no-deps 'moviepy>=2.1'
	$(PIP) install decorator imageio proglog python-dotenv
	touch $@

# The browser tests drive Debian's Chromium: `playwright install` cannot download a browser
# here, so Playwright launches this one by path. Installing it needs root (CI runs as root).
chromium:
	@case "$${NBVIDEO_SKIP_BROWSER:-0}" in 0|"") ;; *) exit 0;; esac; \
	if [ -x "$(NBVIDEO_CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "error: $(NBVIDEO_CHROMIUM) is missing and installing it needs root." >&2; \
	  echo "  run: sudo apt-get update && sudo apt-get install -y chromium" >&2; \
	  echo "  or skip the browser tests: NBVIDEO_SKIP_BROWSER=1 make test" >&2; \
	  exit 1; \
	fi; \
	echo "installing Debian's chromium for the browser tests"; \
	export DEBIAN_FRONTEND=noninteractive; \
	{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null && \
	  "$(NBVIDEO_CHROMIUM)" --version; } || { \
	  echo "error: could not install chromium with apt-get; the browser tests need it" >&2; \
	  echo "  (NBVIDEO_SKIP_BROWSER=1 make test skips them)" >&2; exit 1; }

# The offline voice-over speaks through espeak-ng, a system package (not on PyPI): installed
# with apt-get where there is one (root, or passwordless sudo), non-interactively; Binder gets
# it from binder/apt.txt. Without apt-get this only says how to install it.
APT := $(if $(filter 0,$(shell id -u)),,sudo -n) env DEBIAN_FRONTEND=noninteractive apt-get -y -q
espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing espeak-ng (the offline voice) with apt-get"; \
	    $(APT) install --no-install-recommends espeak-ng >/dev/null 2>&1 || \
	    { $(APT) update >/dev/null 2>&1 && \
	      $(APT) install --no-install-recommends espeak-ng >/dev/null; } || \
	    { echo "could not install espeak-ng: run 'sudo apt-get install espeak-ng'" >&2; exit 1; }; \
	  else \
	    echo "note: espeak-ng is not installed (no apt-get here); the offline voice-over needs" \
	         "it: 'brew install espeak-ng' or https://github.com/espeak-ng/espeak-ng/releases" >&2; \
	  fi; }

# Arabic and Hebrew text is shaped right to left by Pillow's libraqm, which loads FriBiDi from
# the system (libfribidi0, in Debian's base images but not in every slim one).
fribidi: $(VENV)/.installed
	@$(PY) -c "from PIL import features; raise SystemExit(not features.check('raqm'))" || { \
	  echo "installing libfribidi0 (right-to-left text) with apt-get"; \
	  { $(APT) install --no-install-recommends libfribidi0 >/dev/null 2>&1 || \
	    { $(APT) update >/dev/null 2>&1 && \
	      $(APT) install --no-install-recommends libfribidi0 >/dev/null; }; } || \
	  echo "note: could not install libfribidi0; Arabic and Hebrew text will not be shaped" >&2; }

# tests/test_hub.py runs a real JupyterHub, whose proxy is configurable-http-proxy: a Node.js
# program from the npm registry, installed here into .cache/chp (not global, no root needed).
CHP := .cache/chp/node_modules/.bin/configurable-http-proxy
chp:
	@[ -x "$(CHP)" ] && exit 0; \
	if ! command -v npm >/dev/null 2>&1; then \
	  echo "error: npm is missing; the JupyterHub test needs configurable-http-proxy from npm." >&2; \
	  echo "  install Node.js with npm (Debian: apt-get install -y nodejs npm), then run make test" >&2; \
	  exit 1; \
	fi; \
	echo "installing configurable-http-proxy (the JupyterHub test's proxy) into .cache/chp"; \
	npm install --prefix .cache/chp --no-save --no-audit --no-fund --loglevel=error \
	  configurable-http-proxy@5 >/dev/null && "$(CHP)" --version >/dev/null || { \
	  echo "error: could not install configurable-http-proxy with npm; the JupyterHub test" \
	       "(tests/test_hub.py) needs it" >&2; exit 1; }

venv: $(VENV)/.installed

demo: $(VENV)/.installed espeak fribidi
	$(VENV)/bin/nbvideo demo $(DEMO_DIR)

test: $(VENV)/.installed-test chromium espeak fribidi chp
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	# Everything but the browser in two processes (the suite's tests are xdist-safe, see
	# CONTRIBUTING.md), then the browser tests in one: they share one JupyterLab and Chromium.
	$(PY) -m pytest -n 2 --ignore=tests/browser tests
	$(PY) -m pytest tests/browser
	# The notebooks never spend money in a test run: without keys they use the local providers.
	# Two at a time, each whole in one process (--dist loadfile: a notebook's cells in order).
	env -u OPENAI_API_KEY -u REPLICATE_API_TOKEN \
	  $(PY) -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=600 -p no:cacheprovider notebooks
	$(MAKE) docs-check

# What to run while working: chosen by markers, so a new test is in it unless it is marked
# `slow` (renders video) or lives in tests/browser. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test-fast: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow and not browser" tests

# The guide: built with warnings as errors (mkdocs.yml has strict: true; --strict says so here
# too), and every ```python fence in docs/ run offline, each in a fresh temporary folder.
docs: $(VENV)/.installed-docs
	$(VENV)/bin/mkdocs build --strict

docs-check: docs
	$(PY) -m pytest -n 2 --dist loadfile --markdown-docs -p no:cacheprovider docs

# The widget bench drives the browser tests' JupyterLab and Chromium: it needs the test extras.
bench: $(VENV)/.installed-bench $(VENV)/.installed-test chromium
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache site .cache/chp
