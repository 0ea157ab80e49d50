# dfmask — `make help` lists the targets.
# Everything runs inside .venv, built from requirements.lock by `make setup`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# The venv is keyed by the hash of the lock files: change them and `make setup` re-syncs it
# (pip install of the lock; an existing venv is updated in place, never deleted under you).
LOCK_HASH := $(shell cat requirements.lock requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
FACES_CACHE ?= .cache/faces
PYTEST_ARGS ?=

.PHONY: help setup check-tools browser faces-sources repro exp exp-show test test-fast lint lock \
        sync-deps bench bench-faces bench-faces-rss bench-masks bench-phases bench-predict bench-scale bench-scale-part bench-gpu eval-sample eval-seeds robustness release clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-14s %s\n", $$1, $$2}'

check-tools: ## check the system tools setup needs (python3.11, g++, npm)
	@missing=""; \
	command -v $(PYTHON) >/dev/null || missing="$$missing $(PYTHON) (Python 3.11: apt-get install python3.11 python3.11-venv, or pyenv)"; \
	command -v g++ >/dev/null || missing="$$missing g++ (AMD Quark compiles its custom ops on first import: apt-get install g++)"; \
	command -v npm >/dev/null || missing="$$missing npm (one face source is an npm package: apt-get install npm)"; \
	command -v git >/dev/null || missing="$$missing git"; \
	if [ -n "$$missing" ]; then echo "setup: missing tools:$$missing" >&2; exit 1; fi

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	@$(MAKE) --no-print-directory check-tools
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# The browser test (tests/inference/test_browser.py) drives Debian's Chromium with its
# driver: no browser is downloaded at install time (the machines are offline).
browser: ## the headless Chromium + driver the browser test needs (apt-get install when root)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "setup: installing chromium chromium-driver (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else \
	  echo "setup: missing /usr/bin/chromium or /usr/bin/chromedriver: install the Debian packages chromium chromium-driver (sudo apt-get install chromium chromium-driver)" >&2; \
	  exit 1; \
	fi

setup: faces-sources browser ## create .venv from the lock, fetch the sample face sources, install Chromium for the browser test if missing (idempotent)

faces-sources: $(STAMP) ## .venv + the real face photos/videos the sample corpus uses (fetched, checksummed): what every target but the tests needs
	$(BIN)/dfmask sources fetch --cache $(FACES_CACHE)

repro: faces-sources ## set up if needed, generate the sample corpus and run the whole pipeline (dvc repro)
	$(BIN)/dvc repro

# `make exp SET="train.lr=3e-4 train.max_epochs=1" STAGE=evaluate`: one `-S` per SET entry
# (config groups too: SET="corpus=dfdc compute=gpu", docs/config.md);
# STAGE=evaluate stops after evaluation (a model experiment, without the deploy stages).
exp: faces-sources ## one experiment: dvc exp run [STAGE] -S each of SET (make exp SET="train.lr=3e-4" STAGE=evaluate)
	$(BIN)/dvc exp run $(STAGE) $(foreach s,$(SET),-S $(s))

exp-show: $(STAMP) ## compare experiments: changed params and the headline metrics (dvc exp show --only-changed)
	$(BIN)/dvc exp show --only-changed --drop '.*/' --no-pager

test: setup ## run the whole test suite (unit + slow integration tests)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: setup ## run only the fast tests (-m "not slow")
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff + mypy on src/ and tools/, and the Vitis AI entry point checked as Python 3.8
	$(BIN)/ruff check src stages tests tools
	$(BIN)/mypy
	$(BIN)/mypy --explicit-package-bases tools
	$(BIN)/ruff check --target-version py38 --select E,F,UP,B src/dfmask/deploy/vai

lock: ## re-resolve requirements.in into requirements.lock (needs the network)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -r requirements.in
	( echo "# Exact versions of every package in .venv, from \`make lock\` (pip freeze). Python 3.11, x86_64."; \
	  echo "# facenet-pytorch is NOT here: it is installed --no-deps from requirements-nodeps.txt."; \
	  .lock-venv/bin/pip freeze --all | grep -v -i -E '^(pip|dfmask|facenet-pytorch)==' \
	  | sed -E 's/^(torch|torchvision)==([0-9.]+)\+.*/\1==\2/' ) > requirements.lock
	rm -rf .lock-venv

sync-deps: $(STAMP) ## rewrite dvc.yaml's code deps to the files each stage imports (tests/test_codedeps.py checks them)
	$(BIN)/python -m tools.sync_deps

bench: bench-faces bench-masks bench-phases bench-predict bench-scale ## all benchmarks (results in reports/)

bench-faces: faces-sources ## faces stage vs naive MTCNN baseline vs decode floor → reports/bench_faces.json
	$(BIN)/python -m tools.bench.faces --out reports/bench_faces.json

bench-faces-rss: faces-sources ## faces stage's peak RSS only (driver, worker processes, total; 2 originals + fakes) → reports/bench_faces_rss.json
	$(BIN)/python -m tools.bench.faces_rss --out reports/bench_faces_rss.json

bench-masks: faces-sources ## SSIM kernel vs scikit-image, and end-to-end masks → reports/bench_masks.json
	$(BIN)/python -m tools.bench.masks --out reports/bench_masks.json

bench-phases: faces-sources ## per-video decode/detect/crop+PNG/SSIM costs and the DFDC projection → reports/bench_phases.json
	$(BIN)/python -m tools.bench.phases --out reports/bench_phases.json

bench-scale: faces-sources ## faces and masks stages, local vs Ray at 1 and 2 workers: overhead, scaling, identical outputs → reports/bench_scale.json
	$(BIN)/python -m tools.bench.scale --out reports/bench_scale.json

bench-scale-part: faces-sources ## bench-scale on a 4x larger part (each bench video read 4 times under new ids), 2 repeats → reports/bench_scale_part.json
	$(BIN)/python -m tools.bench.scale --replicate 4 --repeats 2 --out reports/bench_scale_part.json

bench-gpu: faces-sources ## the CUDA paths run and timed (needs a GPU; docs/gpu.md): MTCNN, faces stage, training → reports/bench_gpu.json
	$(BIN)/python -m tools.bench.gpu --out reports/bench_gpu.json

bench-predict: faces-sources ## score one 10 s 1080p video: phases per backend, cold start, server p50/p95 → reports/bench_predict.json
	$(BIN)/python -m tools.bench.predict --out reports/bench_predict.json

eval-sample: faces-sources ## face recall, identity leaks, mask IoU against the sample's ground truth; forensic cues of the fakes
	$(BIN)/dfmask quality faces
	$(BIN)/dfmask quality splits
	$(BIN)/dfmask quality masks
	$(BIN)/python -m tools.forensics

eval-seeds: faces-sources ## train + evaluate U-YNet once per evaluate.seeds → reports/eval_seeds.json (mean ± sd)
	$(BIN)/dfmask seeds

robustness: faces-sources ## hostile-input catalogue: real stages on broken/odd inputs → reports/robustness.json (fails if a case does)
	$(BIN)/python -m tools.robustness --out reports/robustness.json

release: $(STAMP) ## tag masks@vVERSION + dvc push data/release (VERSION=x.y.z [ALLOW_LOCAL_REMOTE=1] [PUSH_ALL=1])
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z [ALLOW_LOCAL_REMOTE=1]" >&2; exit 2; }
	$(BIN)/dfmask release publish --version "$(VERSION)" $(if $(filter 1,$(ALLOW_LOCAL_REMOTE)),--allow-local-remote) $(if $(filter 1,$(PUSH_ALL)),--all)

clean: ## remove pipeline outputs and resume state (keeps .venv and the face cache)
	rm -rf data/interim data/processed data/release data/.work models reports
