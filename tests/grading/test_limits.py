"""Limits per kernel that the Linux kernel enforces (grading.limits and the sandbox): a fork bomb, a CPU burner, a /tmp
filler and a stderr flood graded beside a normal student, two at a time, cost only their own
notebook, and the normal student's cells keep their timing. (Without the cgroups the fork bomb takes its kernel down
and would take the machine's process table; on this 2-core machine a run without them did not starve the normal
student's 5 s cell past its 20 s timeout, so that part shows the limits do no harm rather than that they are needed.)

The cgroup part needs a writable cgroup hierarchy (root, as on this project's machines and CI); elsewhere those tests
skip with the reason the grader itself reports (it then grades without them).
"""
import os
import subprocess
import time
from pathlib import Path

import pytest

import kernel_timeouts as kt
from cutmix_course.grading import grade
from cutmix_course.grading.limits import CgroupLimits, Limits
from cutmix_course.grading.problems import printable

from . import examples as ex
from . import toy_course as tc

_probe, _why = CgroupLimits.create(Limits())
if _probe is not None:
    _probe.remove()
needs_cgroups = pytest.mark.skipif(_probe is None, reason=_why)

FORK_BOMB = '''\
import os, time
children = []
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        children.append(pid)
except OSError as exc:
    print("fork refused after", len(children), "children:", type(exc).__name__)
'''
CPU_BURNER = '''\
import os
for _ in range(12):
    if os.fork() == 0:
        while True:
            pass
'''
TMP_FILLER = '''\
written = 0
try:
    with open("/tmp/fill", "wb") as fh:
        for _ in range(2048):
            fh.write(b"x" * 2**20)
            fh.flush()
            written += 1
except OSError as exc:
    print("/tmp full after", written, "MiB:", exc.strerror)
'''
STDERR_FLOOD = '''\
import os
for _ in range(64):
    os.write(2, b"e" * 2**20)
'''
# a normal student's own slow cell: 5 s of CPU, which a kernel starved by the burner's twelve spinners (no CPU quota)
# stretches past the 20 s cell timeout on a 2-core machine; with the quota it keeps at least one core
BUSY = '''\
import time
t0 = time.process_time()
while time.process_time() - t0 < 5.0:
    pass
'''


def test_printable_escapes_what_would_rewrite_a_terminal():
    assert printable("ok\x1b[2K\rheld\u202e\n") == "ok\\x1b[2K\\rheld\\u202e\\n"
    assert printable("zoë 学生 line") == "zoë 学生 line"


@needs_cgroups
def test_a_kernel_cgroup_limits_and_is_removed_with_what_is_left_in_it():
    group, note = CgroupLimits.create(Limits(pids=64, memory_mb=256, cpus=0.5))
    assert group is not None and "64 processes" in note
    fds = group.open_for_joining()
    child = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: CgroupLimits.join(fds))
    for fd in fds:
        os.close(fd)
    try:
        where = Path(f"/proc/{child.pid}/cgroup").read_text()
        assert where.count("cutmix-grading/k-") == len(group.folders), where
        for folder in group.folders:
            values = {p.name: p.read_text().strip() for p in folder.iterdir()
                      if p.name in ("pids.max", "memory.limit_in_bytes", "cpu.cfs_quota_us", "memory.max", "cpu.max")}
            assert values and set(values.values()) <= {"64", str(256 << 20), "50000", "50000 100000"}, values
    finally:
        group.remove()
    assert child.wait(timeout=10) == -9, "what was left in the group is killed with it"
    assert not any(folder.exists() for folder in group.folders)


@pytest.mark.slow
@needs_cgroups
def test_hogs_cost_only_their_own_notebook_and_a_classmate_keeps_its_timing(course, tmp_path):
    no_cutout = ex.remove("01_cutout")
    tests = ["test_mean", "test_clip"]

    def hog(student, why, code, fail=(), problems=()):
        return ex.Example(student, why, edits=[no_cutout, ex.insert_after("02_basics", "mean", code)],
                          fail={"01_cutout": "*", **({"02_basics": list(fail)} if fail else {})},
                          problems=["missing", *problems])
    examples = [
        ex.Example("h1-normal", "the solution with a 5 s CPU-bound cell, graded beside the burner (names sort: "
                   "the two go first)",
                   edits=[no_cutout, ex.insert_after("02_basics", "mean", BUSY)], fail={"01_cutout": "*"},
                   problems=["missing"]),
        hog("h2-fork-bomb", "forks until the process limit refuses", FORK_BOMB),
        hog("h0-cpu-burner", "twelve processes spinning for ever", CPU_BURNER),
        hog("h3-tmp-filler", "writes 2 GiB to its RAM-backed /tmp", TMP_FILLER),
        hog("h4-stderr-flood", "writes 64 MiB to the kernel's stderr", STDERR_FLOOD, problems=["output"]),
    ]
    submitted = ex.build(examples, course.solution, course.release, tmp_path / "examples", tc.ASSIGNMENT)
    started = time.monotonic()
    run = grade(submitted, course.root, tmp_path / "out", sandbox="bwrap", timeout=kt.TOY_CELL_RELAXED, workers=2,
                reuse=False, progress=lambda line: None)
    took = time.monotonic() - started
    expected = {e.student: e.expectation() for e in examples}
    wrong = [w for w in ex.mismatches(run, {"assignment": tc.ASSIGNMENT, "students": expected})
             if not w.startswith("h0-cpu-burner:")]
    assert not wrong, "\n".join(wrong)
    # the burner's spinners share its one CPU with its own kernel: whether its tests then time out, or its kernel
    # dies while the timed-out cell is interrupted (CI saw both), is its business; the classmate's timing is not
    burner = run.by_student()["h0-cpu-burner"]
    assert {k for k, _, _ in burner.problems} <= {"missing", "timeout", "kernel died"}, burner.problem_text()
    results = run.by_student()
    assert all(results[s].notebooks["02_basics"].cells == {t: tc.POINTS[t] for t in tests}
               for s in results if s != "h0-cpu-burner")
    normal = results["h1-normal"]
    assert normal.problem_text() == "missing: 01_cutout.ipynb not submitted", "no timeout beside the hogs"
    printed = {s: _printed(run, s) for s in results}
    assert "fork refused after" in printed["h2-fork-bomb"] and "BlockingIOError" in printed["h2-fork-bomb"]
    assert "/tmp full after" in printed["h3-tmp-filler"] and "No space left" in printed["h3-tmp-filler"]
    written = int(printed["h3-tmp-filler"].split("after ")[1].split()[0])
    assert written <= 512, "the kernel's /tmp is sized"
    logs = sorted((run.out / "logs" / "kernels").glob("h4-stderr-flood--*.log"))
    assert logs and all(p.stat().st_size < 2 * 2**20 for p in logs), [p.stat().st_size for p in logs]
    assert "dropped by the grader" in logs[0].read_text(errors="replace")
    assert took < 300, f"grading five students took {took:.0f} s"


def _printed(run, student: str) -> str:
    import nbformat

    nb = nbformat.read(run.out / "course" / "autograded" / student / tc.ASSIGNMENT / "02_basics.ipynb", 4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
