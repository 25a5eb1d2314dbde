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
	@test -d data/synth3/train -a -d data/synth2/test -a -d data/unseen/test || $(MAKE) corpus
	@for b in bench/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

# The diverse corpora (issue 9): system packages via scripts/corpus-deps.sh, then the in-domain
# train preset (data/synth3: the shipped models' 576 training + 64 validation songs; data/synth2:
# the in-domain test split and the validation split the benches pick α on), the unseen-source
# test set and its development set (other songs). OVERWRITE=--overwrite rebuilds.
.PHONY: corpus
corpus: setup
	@bash scripts/corpus-deps.sh
	.venv/bin/genex make-corpus --preset train --out data/synth3 --songs 640 --seconds 12 --sr 22050 --seed 11 --splits 0.9,0.1,0 $(OVERWRITE)
	.venv/bin/genex make-corpus --preset train --out data/synth2 --songs 160 --seconds 12 --sr 22050 --seed 1 $(OVERWRITE)
	.venv/bin/genex make-corpus --preset unseen --out data/unseen --songs 24 --seconds 12 --sr 22050 --seed 2 $(OVERWRITE)
	.venv/bin/genex make-corpus --preset unseen --out data/unseen-dev --songs 16 --seconds 12 --sr 22050 --seed 3 $(OVERWRITE)

clean:
	rm -rf .venv .pytest_cache build *.egg-info

# The lab in Jupyter (issue 13): set up the same .venv with the `notebook` extra and start
# JupyterLab on notebooks/, on loopback only, with no token prompt, no update or news checks and
# no PyPI extension manager (nothing is fetched); --allow-root only when run as root (CI).
NB_PORT ?= 8888
.PHONY: notebook
notebook:
	@bash scripts/setup.sh notebook
	.venv/bin/python -m jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 \
		--ServerApp.port=$(NB_PORT) --IdentityProvider.token= --ServerApp.password= \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		--LabApp.news_url=None --LabApp.extension_manager=readonly \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root)
