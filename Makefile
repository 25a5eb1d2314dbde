# GenEx Lab: the two commands.
#   make run    set up (.venv, system packages) and start the dashboard on the bundled demo
#   make test   set up and run the whole test suite (unit, AppTest, headless Chromium)
# Override the torch build with TORCH=..., e.g. `make run TORCH='torch==2.5.1'`.
TORCH ?= torch==2.13.0
PORT ?= 8501
export TORCH

.PHONY: run test setup setup-test bench clean

setup:
	@bash scripts/setup.sh run

setup-test:
	@bash scripts/setup.sh test

run: setup
	.venv/bin/python -m streamlit run dashboard/app.py --server.port $(PORT)

test: setup-test
	.venv/bin/python -m pytest

bench: setup
	@test -d data/synth/test || .venv/bin/genex make-corpus --out data/synth --songs 120 --seed 1 --seconds 15
	@for b in bench/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

clean:
	rm -rf .venv .pytest_cache build *.egg-info
