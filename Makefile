# Quick start (README): `make demo` runs the main job, `make test` the whole test suite.
# Both create the local virtual environment .venv on first use and install everything
# from this repository's own files.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
OUTPUT_DIR ?= demo_output
PYTEST_ARGS ?=

.PHONY: install demo smoke test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first, pinned: the CPU wheel here, the CUDA build on a GPU machine
	$(PIP) install -c constraints.txt torch
	$(PIP) install -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m monai_unet2015 demo --output-dir $(OUTPUT_DIR)

smoke: $(STAMP)
	$(PY) -m monai_unet2015 smoke --output-dir $(OUTPUT_DIR)

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15 $(PYTEST_ARGS) tests

lint: $(STAMP)
	$(PY) -m ruff check monai_unet2015 tests benchmarks tutorials
	$(PY) -m ruff format --check monai_unet2015 tests benchmarks tutorials

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(PIP) install -c constraints.txt -e ".[dev,bench]"
	$(PIP) install -c constraints.txt --no-binary elasticdeform elasticdeform
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) benchmarks/bench_networks.py
	$(PY) benchmarks/bench_transforms.py
	$(PY) benchmarks/bench_inferer.py
	$(PY) benchmarks/bench_trainer.py
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_ddp.py

clean:
	rm -rf $(VENV) $(OUTPUT_DIR) .pytest_cache
