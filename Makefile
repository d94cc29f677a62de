# Two commands for a new user:
#   make run    create .venv, install OptArena, run the `quick` suite, write its report
#   make test   create .venv with the test extras, install Chromium if missing, run the tests
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOOPBACK := $(wildcard ../shared/tools/loopback-only)
# Tests start a Ray head and a browser: give them a network namespace with loopback only when we can.
ISOLATE := $(if $(and $(LOOPBACK),$(filter 0,$(shell id -u))),$(LOOPBACK),)

.PHONY: run test test-slow bench lint install install-test ipopt-libs chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch==2.13.0 is pinned in pyproject.toml: on these machines it is the CPU build that lies on local disk.
install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python ipopt-libs
	$(BIN)/pip install -q -e '.[test,ray,dev,reference,constrained,blackbox,botorch,rl,selection,science,tsp,dag,quantum]'

# IPOPT's headers and libraries, for building cyipopt (the `constrained` extra); Debian/Ubuntu as root.
ipopt-libs:
	@pkg-config --exists ipopt 2>/dev/null || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        coinor-libipopt-dev liblapack-dev libblas-dev pkg-config >/dev/null) \
	      || echo "warning: could not install IPOPT; the ipopt solver will be unavailable"; \
	    else echo "note: IPOPT not found (apt-get install coinor-libipopt-dev as root)"; fi; }

chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	    else echo "note: chromium not found; the browser test will be skipped"; fi; }

run: install
	$(BIN)/optarena run quick
	$(BIN)/optarena score quick
	$(BIN)/optarena report quick

test: install-test chromium
	$(ISOLATE) $(BIN)/python -m pytest -q

test-slow: install-test chromium
	$(ISOLATE) $(BIN)/python -m pytest -q -m slow

bench: install-test
	$(BIN)/python benchmarks/harness_overhead.py

lint: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache
