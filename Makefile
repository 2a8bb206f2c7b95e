# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mentor-installed

.PHONY: setup demo demo-quick test test-all lint bench clean

# torch first and pinned: an unpinned torch (or one pulled in by trl/accelerate) is a multi-GB
# CUDA build; torch==2.13.0 is the CPU build. The rest is installed against constraints.txt.
setup: $(STAMP)
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	# BFCL data and checkers (docs/bfcl.md). --no-deps: bfcl-eval's declared dependencies pin
	# numpy 1.26.4 and pull cloud SDKs, faiss and an old vLLM, none of which the data and the
	# Python checkers need; mpmath is the one its multi-turn math API imports.
	$(BIN)/python -m pip install -q --no-deps bfcl-eval==2026.3.23 mpmath
	touch $(STAMP)

demo: setup
	$(BIN)/python -m mentor_train.pipeline

demo-quick: setup
	$(BIN)/python -m mentor_train.pipeline --quick

test: setup
	$(BIN)/python -m pytest -q -n 2

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) data runs .pytest_cache
