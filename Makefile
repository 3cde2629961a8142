# The two commands a new user needs (see README.md):
#   make run    install the app into .venv and start it on the built-in demo
#   make test   install the test tools (Debian's chromium included) and run the whole suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test test-slow lint bench install install-test chromium

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.lock
	$(PY) -m pip install --quiet -r requirements-test.lock
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Debian's chromium for the end-to-end tests; never `playwright install`.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: install-test chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n 2 -m "not slow"

test-slow: install-test
	$(VENV)/bin/pytest -m slow

lint: install-test
	$(VENV)/bin/ruff check .

bench: install-test
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done
