"""The kernel timeouts of the tests, each with the margin it leaves on a loaded 2-core machine.

Measured on 2026-12-01 on the project's 2-core machine, loaded: the kernel-running tests ran
(`pytest tests/e2e/test_nbgrader_e2e.py tests/grading tests/e2e/test_notebooks.py tests/browser --basetemp=/tmp/loaded`)
while `make mutate` kept both cores busy with two mutmut workers, and took 17 min 21 s instead of about 12.
`python scripts/cell_times.py /tmp/loaded` then read every executed cell's run time back from the notebooks the
tests left (nbclient records it), leaving out the cells that are faults on purpose (loops that must time out,
sleeps that must exceed a budget, cells that must be killed):

- the toy course of tests/grading (small tensors): slowest cell 3.0 s, slowest notebook 5.3 s;
- the real course graded by the bundled examples (quick mode): slowest cell 5.1 s (04_training's three runs),
  slowest notebook 9.6 s;
- nbgrader's own autograde of the real course (tests/e2e/test_nbgrader_e2e.py): slowest cell 3.8 s, notebook 8.5 s;
- the browser tests (JupyterLab in Chromium, tests/browser): slowest whole test 15.6 s;
- nbval (tests/e2e/test_notebooks.py), one pytest item per notebook: slowest notebook 34.4 s (04_training).

A timeout here is the measured time times the margin in its comment; re-measure when a notebook gets slower.
"""

TOY_CELL = 10          # toy course, per cell, where examples loop on purpose (each costs this): 3.3x over 3.0 s
TOY_CELL_RELAXED = 20  # toy course, per cell, where nothing is meant to time out: 6.7x over 3.0 s
TOY_CELL_TIGHT = 8     # the guards test: 2.7x over 3.0 s, and 2x over its own 4 s sleeps, which must finish
TOY_NOTEBOOK_TIGHT = 12  # ... while four of them (16 s) must exceed this notebook budget; 2.3x over 5.3 s
COURSE_CELL = 60       # the real course (the grader's default --timeout): 11.8x over 5.1 s
E2E_CELL = 120         # nbgrader autograde of the real course (its own default is 30 s): 31x over 3.8 s
NBVAL_CELL = 600       # nbval, per cell: 17x over the slowest whole notebook (34.4 s)
NBVAL_RUN = 1200       # one nbval subprocess (one notebook): 35x over 34.4 s
BROWSER_WAIT_MS = 30_000  # Playwright, per wait in the browser tests: 1.9x over the slowest whole test (15.6 s)
