# `make demo` and `make test` create .venv once and reuse it while it matches pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench-tune bench-quality lint format notebooks clean-venv cli-options

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

DEMO := --config configs/synthetic.yaml
DEMO_CKPT := --ckpt_path runs/synthetic/checkpoints/last.ckpt

demo: $(STAMP)
	rm -rf runs/synthetic
	$(BIN)/pinsage fit $(DEMO)
	$(BIN)/pinsage test $(DEMO) $(DEMO_CKPT) --trainer.logger=false
	$(BIN)/pinsage recommend $(DEMO) $(DEMO_CKPT) --pins p1 p2 --boards b1 --k 5

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -ra

# after changing an option of the model, the Trainer or a datamodule: the snapshot of what
# pinsage fit|validate|test accept, which answers --help and bad options at once
cli-options: $(STAMP)
	$(BIN)/python -c "from pinsage_dgl.cli.lightning_cli import write_option_snapshot as w; w()"

# choose every method's settings on validation (hours on 2 CPU cores; needs ../shared/data)
bench-tune: $(STAMP)
	$(BIN)/python -m benchmarks.tune

# the quality table of the README: each method trained once with its chosen settings
bench-quality: $(STAMP)
	$(BIN)/python -m benchmarks.quality

# the notebooks in full, executed copies with outputs in notebooks/executed/ (not committed)
notebooks: $(STAMP)
	mkdir -p notebooks/executed
	cd notebooks && for nb in *.ipynb; do \
	  ../$(BIN)/python -c 'import sys, nbformat; from nbclient import NotebookClient; \
	    nb = nbformat.read(sys.argv[1], as_version=4); \
	    NotebookClient(nb, timeout=3600, resources={"metadata": {"path": "."}}).execute(); \
	    nbformat.write(nb, "executed/" + sys.argv[1])' "$$nb" && echo "executed/$$nb"; \
	done

lint: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-venv:
	rm -rf $(VENV)
