# Every target creates .venv and installs requirements.txt on first use, so a fresh clone needs nothing else typed.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
OUT     ?= reports/trace
ARGS    ?=

.PHONY: all trace trace-quick test test-fast lint lab lab-instructor student-kit check release figures section-times site bench bench-grade grade mutate system sandbox clean help
all: help

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

## trace: the main job: data -> Cutout/CutMix -> four trainings -> the trace tables + report in $(OUT)
trace: $(STAMP)
	$(PY) -m cutmix_course trace --out $(OUT) $(ARGS)

trace-quick: $(STAMP)
	$(PY) -m cutmix_course trace --quick --out reports/trace-quick $(ARGS)

# pytest-xdist: most slow tests wait on kernels, not on the CPU; a file stays on one worker (its module fixtures)
WORKERS ?= 2

## test: lint, then every test (library, notebooks via nbval, nbgrader end-to-end, grading hardening, browser)
test: $(STAMP) system lint
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest -q -ra -n $(WORKERS) --dist loadfile --durations=25 $(ARGS)

## test-fast: the library tests only (no notebooks, no nbgrader, no browser)
test-fast: $(STAMP) sandbox lint
	$(PY) -m pytest -q -m "not slow and not browser" --ignore=tests/e2e $(ARGS)

## lint: ruff (pinned in requirements.txt, configured in pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check .

## system: the Debian packages the tests need (Chromium, bubblewrap, PostgreSQL), installed with apt when missing
system:
	@bash scripts/install-system.sh browser sandbox postgres

## sandbox: bubblewrap for the grading sandbox (installed with apt when missing)
sandbox:
	@bash scripts/install-system.sh sandbox

## lab: JupyterLab on the student notebooks only (notebooks/cutout_cutmix/ is its root: what a student sees)
lab: $(STAMP)
	PATH=$(abspath $(VENV))/bin:$$PATH jupyter lab --notebook-dir=notebooks/cutout_cutmix 01_dataset.ipynb

## lab-instructor: JupyterLab on the whole course (solutions/, nbgrader's formgrader in the Nbgrader menu)
lab-instructor: $(STAMP)
	PATH=$(abspath $(VENV))/bin:$$PATH jupyter lab --notebook-dir=. solutions/cutout_cutmix/01_dataset.ipynb

## student-kit: dist/cutout_cutmix-student.zip, what students get (notebooks, package, student README; no solutions)
student-kit: $(STAMP)
	$(PY) -m cutmix_course kit

## check: the public checks of the student notebooks in notebooks/ (what the kit's `make check` runs)
check: $(STAMP)
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m cutmix_course check $(or $(ARGS),notebooks/cutout_cutmix)

## release: regenerate the student notebooks in notebooks/ from solutions/ with nbgrader
release: $(STAMP)
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m cutmix_course release $(ARGS)

## figures: redraw the static pictures stored in the solutions' markdown cells (then make release)
figures: $(STAMP)
	$(PY) -m cutmix_course figures $(ARGS)

## section-times: recount the folded time-per-section table at the top of each solutions notebook (then make release)
section-times: $(STAMP)
	$(PY) -m cutmix_course section-times

## site: site/index.html, the executed student notebooks as static HTML (figures included, no solutions; ARGS=--quick)
site: $(STAMP)
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m cutmix_course site $(ARGS)

## bench: the speed benchmark (ratios against references measured in the same run)
bench: $(STAMP)
	$(PY) -m cutmix_course bench $(ARGS)

## bench-grade: grading throughput with 1 and 2 workers on N copies of the solution (ARGS="--students N")
bench-grade: $(STAMP) sandbox
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m cutmix_course bench-grade $(ARGS)

## mutate: mutation testing (mutmut) of the library, the checks and the grader's pure parts: the score table per module (about an hour, capped at 60 min)
mutate: $(STAMP) sandbox
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) scripts/mutate.py $(ARGS)

## grade: autograde submissions (default: the bundled examples) and print the summary table
grade: $(STAMP) sandbox
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m cutmix_course grade $(ARGS)

clean:
	rm -rf reports test-output .pytest_cache dist site

help:
	@grep -E '^## ' Makefile | sed 's/^## /make /'
