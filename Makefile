# gridmap: the two commands of the quick start are `make demo` and `make test`.
.PHONY: setup demo test bench clean-db

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/gridmap demo

test: setup
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python benchmarks/run_all.py

clean-db:
	.venv/bin/gridmap db stop || true
