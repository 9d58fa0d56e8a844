# The two commands of the README; each sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## the quickstart sweep on CPU
	$(VENV)/bin/scaling run configs/quickstart.py --out runs/quickstart

test: $(STAMP)  ## the test suite (fast tests; `make test PYTEST_ARGS="-m slow"` for the slow ones), a file per core at a time
	WANDB_MODE=disabled JAX_PLATFORMS=cpu $(VENV)/bin/python -m pytest -q -n auto --dist loadfile --durations=15 $(PYTEST_ARGS)

bench: $(STAMP)  ## throughput benchmark (installs the optional PyTorch baseline)
	$(VENV)/bin/pip install --quiet -e '.[bench]'
	$(VENV)/bin/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs
