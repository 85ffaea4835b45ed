# Quick start:  make smoke   (the whole pipeline + paper artifacts at smoke scale, CPU, minutes)
#               make test    (unit tests + nbval on the committed notebooks)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SCALE ?= smoke
GRIDS ?= $(sort $(wildcard params/experiments/*.yaml))
CORES ?= 2
# HF libraries never try the network at the smoke and offline scales: `xstilts run` sets
# HF_HUB_OFFLINE / HF_DATASETS_OFFLINE for its jobs by scale (workflow.offline_env), never for full,
# so `make run SCALE=full` downloads from the Hub. Tests and nbval run offline too:
smoke smoke-check unit test-slow nbval benchmark: export HF_HUB_OFFLINE ?= 1
smoke smoke-check unit test-slow nbval benchmark: export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false
export PYTHONHASHSEED := 0

.PHONY: smoke smoke-check run test test-slow unit nbval paper setup benchmark resilience clean-runs

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first: the pinned CPU build (an unpinned torch would pull a multi-GB CUDA build)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	@touch $@

setup: $(VENV)/.installed

smoke: setup  ## every smoke grid + analysis notebooks -> figures/smoke, paper/generated/smoke
	$(VENV)/bin/xstilts run $(GRIDS) --scale smoke --cores $(CORES)

# `make smoke`, then the promise that it rewrites no committed file (figures/smoke,
# paper/generated/smoke): what CI checks on a machine that did not write them
smoke-check: smoke
	@git diff --quiet --exit-code || { git diff --stat; echo "make smoke changed the committed files above: the smoke results are not the same on this machine" >&2; exit 1; }
	@echo "make smoke reproduced every committed smoke output"

run: setup  ## make run SCALE=offline GRIDS=params/experiments/a1_task_scaling_pos.yaml
	$(VENV)/bin/xstilts run $(GRIDS) --scale $(SCALE) --cores $(CORES)

# the unit tests and nbval: what a developer runs before a commit (minutes)
test: setup unit nbval

unit: setup
	$(VENV)/bin/pytest -q -m "not slow and not resilience" tests

# the end-to-end tests (fresh-clone README commands, a SLURM cluster on loopback, kill-and-resume,
# the kernel pin in a subprocess, the real encoder's conversion): CI runs them after `make test`
test-slow: setup
	$(VENV)/bin/pytest -q -m "slow and not resilience" tests

# 20 SIGKILLs at random points of a smoke grid (MLM included), each resumed and compared with an
# uninterrupted run; ~20 min on 2 cores, so not part of `make test`
resilience: setup
	$(VENV)/bin/pytest -q -s -m resilience tests/test_kill_resume.py

# nbval re-executes the committed notebooks and compares their outputs: a phase notebook computes
# its smoke run (and its upstream run) when the runs folder lacks it and prints the same as when it
# reuses it; the analyses read the committed offline runs. So nbval needs no `make smoke` first.
nbval: setup
	$(VENV)/bin/pytest -q --nbval --nbval-current-env notebooks --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

# the paper: needs a LaTeX installation (Debian: texlive-latex-base texlive-latex-recommended
# texlive-latex-extra texlive-bibtex-extra latexmk; .ci/run installs them); shows the scale named by
# \ResultsScale in paper/main.tex. Fails on LaTeX errors and on undefined references or citations.
paper:
	@{ command -v latexmk && command -v pdflatex; } >/dev/null || { echo "make paper: latexmk or pdflatex not found. Install LaTeX, e.g. Debian/Ubuntu: sudo apt-get install texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-bibtex-extra latexmk (booktabs, multirow, geometry, hyperref, natbib; conda: conda install -c conda-forge texlive-core latexmk)" >&2; exit 2; }
	cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error -silent main.tex >/dev/null
	@! grep -E "undefined|Citation .* undefined|There were undefined" paper/main.log || \
	  { echo "paper/main.log: undefined references or citations" >&2; exit 1; }
	@! grep -E "Warning--|error message" paper/main.blg || { echo "paper/main.blg: BibTeX problems" >&2; exit 1; }
	@echo "paper/main.pdf written"

benchmark: setup
	$(PY) benchmarks/bench_train.py

clean-runs:
	rm -rf runs
