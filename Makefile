# kernlab: `make lab` opens the notebooks, `make test` runs the whole suite.
# Both create .venv and install kernlab (editable) with everything it needs first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.kernlab-installed
PYTEST  := $(BIN)/python -m pytest

.PHONY: install allocators lab test test-fast lint soak test-boundscheck bench dist clean-cache clean-notebooks

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	# Outputs saved by the lab stay in your notebooks but never show up as changes to commit.
	if git rev-parse --git-dir >/dev/null 2>&1; then $(BIN)/nbstripout --install; fi
	-@$(MAKE) --no-print-directory allocators
	touch $(STAMP)

install: $(STAMP)

# Best effort: the allocators the `alloc` experiment swaps in by LD_PRELOAD, and liburcu
# for the C peer of the RCU table (Debian/Ubuntu packages), installed only where apt-get
# runs as root or through password-less sudo. Never fails the build: without them the
# experiment and the claims report say which package to install.
ALLOCATOR_PKGS := libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 liburcu-dev
allocators:
	@if ! command -v apt-get >/dev/null 2>&1 || dpkg -s $(ALLOCATOR_PKGS) >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else exit 0; fi; \
	$$SUDO apt-get install -y -q $(ALLOCATOR_PKGS) >/dev/null 2>&1 \
	  || echo "note: could not install $(ALLOCATOR_PKGS) (the allocator swap and the liburcu peer need them)"

lab: install
	$(BIN)/kernlab lab

# Lint (ruff, with import sorting), then unit, short stress tier, CLI, widget panel and
# every notebook (run headless, small).
# The notebooks run two at a time (each in its own kernel): they only print and draw.
test: lint
	$(PYTEST) tests --durations=25
	$(PYTEST) --nbmake notebooks -n 2 --durations=5

# Without the notebooks.
test-fast: lint
	$(PYTEST) tests

lint: install
	$(BIN)/ruff check kernlab tests benchmarks notebooks

# The long stress tier.
soak: install
	$(PYTEST) tests --soak -m "stress or soak"

# Every index checked. A separate cache: code compiled without checks must not be reused.
# Left out: what does not index arrays in a new way under checks (the assembly of the
# production build, the wheel, the browser); `make test` runs them.
test-boundscheck: install
	NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(CURDIR)/.numba_cache_boundscheck $(PYTEST) tests \
	  --ignore=tests/test_fast_paths.py --ignore=tests/test_packaging.py --ignore=tests/test_browser.py

# Performance checks (not tests): run on a quiet machine; each prints medians and spread.
bench: install
	for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# A wheel and an sdist in dist/, carrying the notebooks and data/ (see kernlab/workspace.py).
dist: install
	$(BIN)/python -m build --outdir dist .

clean-cache:
	find kernlab benchmarks tests -name '*.nbi' -o -name '*.nbc' | xargs rm -f  # every edit's old entries too
	rm -rf .numba_cache_boundscheck

# Notebooks are committed without outputs.
clean-notebooks: install
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb
