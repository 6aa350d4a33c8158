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

.PHONY: install label-install label-server hospital-peers demo smoke test docs docs-layout figures lint bench peer-install peer notebooks clean

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

# MONAI Label in its own environment (pydicom 2.4 there, 3.0 in .venv): tests/label uses it.
LABEL_VENV ?= .venv-label
LABEL_STAMP := $(LABEL_VENV)/.installed
STUDIES ?= demo_output/sample/ct/imagesTr
MODELS ?= all
PORT ?= 8000

label-install: $(LABEL_STAMP)

$(LABEL_STAMP): pyproject.toml constraints.txt scripts/install_monailabel.sh
	PYTHON=$(PYTHON) scripts/install_monailabel.sh $(LABEL_VENV)
	touch $(LABEL_STAMP)

label-server: $(LABEL_STAMP)
	$(LABEL_VENV)/bin/monailabel start_server --app apps/monai_unet2015 --studies $(STUDIES) \
		--conf models $(MODELS) --port $(PORT)

# Orthanc (a real PACS), dcmtk (storescu, a real sender), dicom3tools (dciodvfy, an
# independent validator of the objects we write) and systemd (systemd-analyze verifies
# deploy/'s unit) for tests/dicom_node, tests/data and tests/packaging, and chromium (the docs
# seen in a browser: tests/test_docs_layout.py, `make docs-layout`), from Debian's packages;
# as root only (CI is). Without them those tests skip and say why.
SYSTEM_PACKAGES := orthanc dcmtk dicom3tools systemd chromium
hospital-peers:
	@if command -v Orthanc >/dev/null && command -v storescu >/dev/null && command -v dciodvfy >/dev/null \
			&& command -v systemd-analyze >/dev/null && command -v chromium >/dev/null; then \
		echo "$(SYSTEM_PACKAGES) are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES)) \
			|| echo "note: $(SYSTEM_PACKAGES) could not be installed; the tests that need them skip"; \
	else \
		echo "note: apt-get install $(SYSTEM_PACKAGES) (as root) to run the tests against them"; \
	fi

# --dist loadfile: a test file's tests run on one worker, so module fixtures (the MONAI Label
# server, trained bundles) are made once
test: $(STAMP) $(LABEL_STAMP) hospital-peers
	$(PY) -m pytest -n 2 --dist loadfile --durations=15 $(PYTEST_ARGS) tests

# The documentation site (Sphinx + MyST): warnings are errors (-W), every one listed (--keep-going);
# the build also fails on a figure a page shows that is missing or blank.
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

# The built site in a headless Chromium (Debian's chromium, installed by hospital-peers) at a
# 1366 px laptop width: fails on any code block or table clipped behind a scroll bar.
docs-layout: docs hospital-peers
	$(PY) scripts/check_docs_layout.py docs/_build/html --width 1366

# The documentation's figures (docs/_static/figures/, committed), drawn from real data fetched from
# the registries (about 10 minutes: the cells bundle trains 240 s on the real nuclei and bacteria);
# the CT figures need a run of `benchmarks/review_flag.py --work $(REVIEW_WORK)`.
REVIEW_WORK ?= /tmp/review_work
figures: $(STAMP)
	$(PY) scripts/make_figures.py --train-cells 240 $(if $(wildcard $(REVIEW_WORK)/out),--review-work $(REVIEW_WORK))

lint: $(STAMP)
	$(PY) -m ruff check monai_unet2015 tests benchmarks tutorials apps scripts
	$(PY) -m ruff format --check monai_unet2015 tests benchmarks tutorials apps scripts

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
	$(PY) benchmarks/bench_checks.py
	$(PY) benchmarks/bench_precision.py
	$(PY) benchmarks/bench_dicom_node.py
	$(PY) benchmarks/bench_outputs.py
	$(PY) benchmarks/bench_dicom_node_orthanc.py
	$(PY) benchmarks/bench_compile.py
	$(PY) benchmarks/bench_clinical_ct.py
	$(PY) benchmarks/bench_runtimes.py --int8

# The peer benchmark (benchmarks/peer_nnunet.py): nnU-Net v2 in its own venv, on the same torch
# pin as .venv (installed first, so no CUDA build is pulled). PyPI's torchvision, which timm pulls,
# does not import beside the CPU torch 2.13.0 ('operator torchvision::nms does not exist'); nnU-Net's
# default networks never import timm (only its Primus / EVA architectures do), so torchvision is
# removed rather than replaced by a 5.5 GB CUDA pair. `make peer` (all five datasets, 1x and 3x, three
# seeds; every nnU-Net configuration a CPU user would try on the 3D ones) takes many hours on 2 CPU cores.
PEER_VENV ?= .venv-nnunet
PEER_STAMP := $(PEER_VENV)/.installed
NNUNET ?= nnunetv2==2.8.1
PEER_ARGS ?=

peer-install: $(PEER_STAMP)

$(PEER_STAMP): constraints.txt
	$(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --upgrade pip
	$(PEER_VENV)/bin/python -m pip install -c constraints.txt torch
	$(PEER_VENV)/bin/python -m pip install -c constraints.txt $(NNUNET)
	$(PEER_VENV)/bin/python -m pip uninstall -y torchvision
	$(PEER_VENV)/bin/python -c "import nnunetv2.training.nnUNetTrainer.nnUNetTrainer, nnunetv2.inference.predict_from_raw_data"
	touch $(PEER_STAMP)

peer: $(BENCH_STAMP) $(PEER_STAMP)
	$(PY) benchmarks/peer_nnunet.py $(PEER_ARGS)
	$(PY) benchmarks/bench_clinical_ct.py --nnunet

NOTEBOOK_STAMP := $(VENV)/.installed-notebooks

$(NOTEBOOK_STAMP): $(STAMP)
	$(PIP) install -c constraints.txt -e ".[dev,tutorials]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (monai_unet2015)"
	touch $(NOTEBOOK_STAMP)

# The tutorials in full mode, saved as tutorials/*.ipynb with their outputs (about 10 minutes on
# 2 CPU cores); tests/tutorials checks that the notebooks hold the scripts' cells.
# Where .venv-label has no working torchvision (a CPU torch here), tutorial 3's server gets the
# tests' stand-in for torchvision.utils, as in tests/label; the notebook prints it.
notebooks: $(NOTEBOOK_STAMP) $(LABEL_STAMP)
	standin=$$($(LABEL_VENV)/bin/python -c "import torchvision.utils" 2>/dev/null || echo "$(abspath tests/label/standins)"); \
	cd tutorials && for script in 0*.py; do \
		PATH="$(abspath $(VENV))/bin:$$PATH" PYTHONPATH="$$standin" python -m jupytext --to ipynb --execute "$$script" || exit 1; \
	done

clean:
	rm -rf $(VENV) $(LABEL_VENV) $(PEER_VENV) $(OUTPUT_DIR) .pytest_cache docs/_build
