# gridmap: the two commands of the quick start are `make demo` and `make test`.
.PHONY: setup demo test bench lock clean-db

# requirements.lock pins every dependency (pyproject's ranges + the `test` extra) for this Python on
# Linux x86_64; scripts/setup.sh reads the version from the lock's header and builds .venv with it.
LOCK := requirements.lock
LOCK_PYTHON := 3.12
UV := $(shell command -v uv 2>/dev/null || echo .venv/bin/uv)

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/gridmap demo

test: setup
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python benchmarks/run_all.py

# Re-pin after editing pyproject's dependencies: keeps the versions already pinned where they still
# fit and adds what is new (`make lock LOCK_FLAGS=--upgrade` moves everything to the newest allowed).
lock:
	@[ -x "$(UV)" ] || { [ -x .venv/bin/python ] || python$(LOCK_PYTHON) -m venv .venv; \
	  .venv/bin/python -m pip install -q 'uv>=0.5,<1'; }
	$(UV) pip compile pyproject.toml --extra test --python-version $(LOCK_PYTHON) \
	  --python-platform x86_64-unknown-linux-gnu --annotation-style line --quiet $(LOCK_FLAGS) -o $(LOCK)

clean-db:
	.venv/bin/gridmap db stop || true
