# The two set-up commands of the README: `make run` (the main job on built-in defaults) and
# `make test`. Both create .venv on first use; versions come from pyproject.toml only.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/quickstart

.PHONY: install run test lint bench fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

# The main job on built-in defaults (no data, no board needed). A second `make run` trains nothing:
# the DNN's checkpoint is a file target, and quickstart re-evaluates the controller it trained.
run: $(RUN_DIR)/dnn/model.pt
	$(BIN)/dynscale dnn bench --checkpoint $(RUN_DIR)/dnn
	$(BIN)/dynscale quickstart --out $(RUN_DIR)

$(RUN_DIR)/dnn/model.pt: $(STAMP)
	$(BIN)/dynscale dnn train --out $(RUN_DIR)/dnn

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .

# The long fuzzing run (tests/test_fuzz_inputs.py: hundreds of broken files per kind) and the
# concurrent-deploy race repeated 50 times; `make test` runs a short budget of both.
fuzz: $(STAMP)
	DYNSCALE_FUZZ=long DYNSCALE_RACES=50 $(BIN)/python -m pytest -q \
		--hypothesis-show-statistics tests/test_fuzz_inputs.py tests/test_deploy_lock.py

bench: $(STAMP)
	$(BIN)/python benchmarks/dnn_bench.py
	$(BIN)/python benchmarks/env_bench.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
