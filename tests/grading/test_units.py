"""Unit tests of the grading package's parts on hand-made inputs: no grading run, no kernel (fast).

Each part is exercised the way the run uses it: preprocessors on a hand-made notebook with their state in
`resources`, the options object and the command line built from it, the kernel protocol through the real audit hook
(in a subprocess), intake on hand-made submission folders, and record on a real sqlite gradebook.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from cutmix_course.grading import GradingError, GradingOptions
from cutmix_course.grading.cli import parser
from cutmix_course.grading.findings import RESOURCES_KEY, GradingState, state_of
from cutmix_course.grading.intake import read_submission
from cutmix_course.grading.preprocessors import HideHiddenTests, TestCellPolicy
from cutmix_course.grading.protocol import AUDIT_MARK, KERNEL_ENV, AuditEvent, KernelSpec, parse_audit, summarise_audit


def _test_cell(source="assert f(1) == 2", outputs=(), points=1, gid="test_f"):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": gid,
                                 "points": points, "schema_version": 3}
    cell.outputs = list(outputs)
    return cell


# ------------------------------------------------------------------------------------------ preprocessors
def test_result_ahead_of_an_error_counts_as_failed_and_is_noted():
    from nbgrader.utils import determine_grade

    cell = _test_cell(outputs=[new_output("execute_result", data={"text/plain": "'full marks'"}, execution_count=1),
                               new_output("error", ename="AssertionError", evalue="", traceback=[])])
    nb = new_notebook(cells=[cell])
    assert determine_grade(cell)[0] == 1  # what stock nbgrader would give
    resources = {}
    nb, resources = TestCellPolicy().preprocess(nb, resources)
    assert determine_grade(nb.cells[0])[0] == 0
    assert [k for k, _ in resources[RESOURCES_KEY].findings] == ["result before error"]


def test_stderr_of_a_passing_test_is_kept_as_output_unless_configured_to_fail():
    from nbgrader.utils import determine_grade

    def notebook():
        return new_notebook(cells=[_test_cell(outputs=[new_output("stream", name="stderr", text="a warning\n")])])

    nb, resources = TestCellPolicy().preprocess(notebook(), {})
    assert determine_grade(nb.cells[0])[0] == 1
    assert nb.cells[0].outputs[0].text == "[stderr] a warning\n"
    assert [k for k, _ in state_of(resources).findings] == ["stderr"]
    nb, resources = TestCellPolicy(stderr_as_output=False).preprocess(notebook(), {})
    assert determine_grade(nb.cells[0])[0] == 0 and state_of(resources).findings == []


def test_state_in_resources_is_the_callers_object():
    state = GradingState()
    cell = _test_cell(outputs=[new_output("stream", name="stderr", text="w\n")])
    TestCellPolicy().preprocess(new_notebook(cells=[cell]), {RESOURCES_KEY: state})
    assert state.findings and state.findings[0][0] == "stderr"


def test_feedback_hides_hidden_tests_and_their_tracebacks():
    source = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(7) == 'SECRET'\n### END HIDDEN TESTS\nprint('done')"
    cell = _test_cell(source, outputs=[new_output("error", ename="AssertionError", evalue="f(7)",
                                                  traceback=["line with SECRET", "AssertionError: f(7)"])])
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    shown = nb.cells[0].source + json.dumps(nb.cells[0].outputs)
    assert "SECRET" not in shown and "BEGIN HIDDEN" not in shown
    assert nb.cells[0].source == "assert f(1) == 2\n# [hidden tests: not shown]\nprint('done')"
    assert nb.cells[0].outputs[0].traceback == ["AssertionError: f(7)"]


def test_feedback_adds_the_model_answer_of_a_written_answer_and_no_code_solution():
    from nbformat.v4 import new_markdown_cell

    from cutmix_course.grading.preprocessors import ModelAnswers

    def answer(cell, gid, grade):
        cell.metadata["nbgrader"] = {"grade": grade, "solution": True, "locked": False, "grade_id": gid,
                                     "points": 2 if grade else None, "schema_version": 3}
        return cell

    course = new_notebook(cells=[answer(new_markdown_cell("MODEL: the gap shrank. Rubric."), "reflection", True),
                                 answer(new_code_cell("def f(x):\n    return 'SOLUTION'"), "answer_f", False),
                                 answer(new_code_cell("x = 'GRADED CODE SOLUTION'"), "answer_x", True)])
    submitted = new_notebook(cells=[answer(new_markdown_cell("my reflection"), "reflection", True),
                                    answer(new_code_cell("def f(x):\n    return 1"), "answer_f", False),
                                    answer(new_code_cell("x = 2"), "answer_x", True)])
    pp = ModelAnswers(course={"06_quiz": nbformat.writes(course)})
    nb, _ = pp(submitted, {"nbgrader": {"notebook": "06_quiz"}})  # as nbconvert calls it: only if enabled
    assert [c.source for c in nb.cells][:2] == ["my reflection", nb.cells[1].source]
    assert "MODEL: the gap shrank. Rubric." in nb.cells[1].source and "reflection" in nb.cells[1].source
    assert "SOLUTION" not in json.dumps([c.source for c in nb.cells])  # code answers keep their solutions hidden
    other, _ = pp(new_notebook(cells=[new_markdown_cell("x")]), {"nbgrader": {"notebook": "02_cutout"}})
    assert [c.source for c in other.cells] == ["x"]


def test_the_graded_notebook_is_the_courses_with_the_students_answers_and_own_cells():
    from nbformat.v4 import new_markdown_cell

    from cutmix_course.grading.preprocessors import CourseCells

    def answer(source, gid="answer_f"):
        cell = new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": gid,
                                     "schema_version": 3}
        return cell

    hidden = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(3) == 4\n### END HIDDEN TESTS"
    course = new_notebook(cells=[new_markdown_cell("# intro"), new_code_cell("import torch"),
                                 answer("def f(x):\n    return x + 1"), _test_cell(hidden), new_code_cell("FIGURE = 1"),
                                 answer("def g(x):\n    return x", gid="answer_g")])
    course.cells[1].metadata["tags"] = ["graded-run"]  # the set-up cell; FIGURE's cell is not needed by any test
    fake = _test_cell("pass", gid="test_f")  # a cell of the student's claiming a test's role
    submitted = new_notebook(cells=[
        new_code_cell("import torch  # edited"), new_code_cell("SPEED = 99"),
        answer("def f(x):\n    return helper(x)"), answer("def f(x):\n    return 0"),  # a second copy
        _test_cell("assert f(1) == 2"), fake, new_code_cell("FIGURE = 1")])
    submitted.cells[2].metadata["nbgrader"]["locked"] = True  # a student's metadata decides nothing
    nb, _ = CourseCells(course={"nb": nbformat.writes(course)}).preprocess(submitted, {"nbgrader": {"notebook": "nb"}})
    assert [c.source for c in nb.cells] == [
        "import torch  # edited", "SPEED = 99",  # the student's cells before the first course cell they kept
        "# intro", "import torch", "def f(x):\n    return helper(x)", "def f(x):\n    return 0", hidden, "pass"]
    assert nb.cells[4].metadata["nbgrader"]["locked"] is False  # the course's metadata
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells] == [
        None, None, None, None, "answer_f", None, "test_f", None]  # the student's own cells have no role
    with pytest.raises(ValueError, match="no notebook 'other'"):
        CourseCells(course={"nb": nbformat.writes(course)}).preprocess(submitted, {"nbgrader": {"notebook": "other"}})


# ------------------------------------------------------------------------------------------ options, command line
def test_every_option_is_on_the_command_line_and_round_trips():
    from dataclasses import fields

    p = parser()
    text = p.format_help()
    argv = ["--timeout", "7", "--late-policy", "none", "--allow-read", "/data", "--allow-read", "x",
            "--reuse-identical", "--workers", "3", "--retries", "0", "--stderr", "fail"]
    options = GradingOptions.from_namespace(p.parse_args(argv))
    assert (options.timeout, options.late_policy, options.reuse, options.workers, options.retries) == \
        (7, "none", True, 3, 0)
    assert options.allow_read == ("/data", os.path.abspath("x")) and options.stderr == "fail"
    defaults = GradingOptions.from_namespace(p.parse_args([]))
    assert defaults == GradingOptions()
    for f in fields(GradingOptions):
        assert "--" + f.metadata.get("flag", f.name.replace("_", "-")) in text, f.name


@pytest.mark.parametrize("bad, flag", [
    (dict(timeout=0), "--timeout"), (dict(memory_mb=-5), "--memory-mb"), (dict(timeout="10"), "--timeout"),
    (dict(late_policy="half"), "--late-policy"), (dict(sandbox="docker"), "--sandbox"),
    (dict(reuse="yes"), "--reuse-identical"), (dict(workers=-1), "--workers"),
    (dict(allow_read="/data"), "--allow-read"),
    (dict(assignment="../x"), "--assignment"), (dict(timeout=True), "--timeout")])
def test_bad_options_are_refused_naming_the_flag_and_the_value(bad, flag):
    with pytest.raises(GradingError) as info:
        GradingOptions(**bad)
    assert flag in str(info.value) and repr(next(iter(bad.values()))) in str(info.value)


def test_options_are_frozen():
    with pytest.raises(Exception):  # noqa: B017
        GradingOptions().timeout = 5


# ------------------------------------------------------------------------------------------ protocol
def test_kernel_spec_travels_through_the_environment_and_is_removed_from_it():
    spec = KernelSpec(memory_mb=512, file_size_mb=8, readable=["/usr"], writable=["/tmp"])
    env = dict(spec.to_env())
    assert list(env) == [KERNEL_ENV]
    assert KernelSpec.pop_from_env(env) == spec and env == {}
    assert KernelSpec.pop_from_env({}) is None


def test_the_kernels_audit_hook_writes_what_the_grader_parses(tmp_path):
    """The real hook (kernel side) in a fresh interpreter; its stderr parsed by the grader side."""
    outside, inside = tmp_path / "gradebook.db", tmp_path / "work"
    inside.mkdir()
    outside.write_text("secret")
    code = f"""
import os, sys
from cutmix_course.grading.kernel import _install_audit_hook
_install_audit_hook([sys.prefix, sys.base_prefix, {str(Path(__file__).parents[2])!r}, "/usr", "/lib"],
                    [{str(inside)!r}], 2)
exec(compile("", "<ipython-input-1>", "exec"))   # arms the hook, as the first cell does
open({str(inside / 'mine.txt')!r}, "w").write("ok")   # allowed
open({str(outside)!r}).read()                          # a read outside
open({str(outside)!r}, "a").write("x")                  # a write outside
os.listdir({str(tmp_path)!r})
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    events = parse_audit(done.stderr)
    assert AuditEvent("open", str(outside)) in events
    assert AuditEvent("open (write)", str(outside)) in events
    assert AuditEvent("os.listdir", str(tmp_path)) in events
    assert not any("mine.txt" in e.path for e in events)
    assert "(1 write(s))" in summarise_audit(events)


def test_a_forged_audit_line_is_kept_as_evidence_not_parsed_as_an_event():
    text = f"{AUDIT_MARK}{{not json\n" + AuditEvent("open", "/x").line() + "ordinary stderr\n"
    events = parse_audit(text)
    assert events[0].event == "unreadable audit line" and events[1] == AuditEvent("open", "/x")
    assert summarise_audit([]) is None


# ------------------------------------------------------------------------------------------ intake
def _notebook_file(path: Path):
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), path)


def test_intake_takes_only_the_notebooks_and_refuses_links_corrupt_large_extra_and_missing(tmp_path):
    folder = tmp_path / "alice" / "hw"
    (folder / "data").mkdir(parents=True)
    _notebook_file(folder / "good.ipynb")
    (folder / "corrupt.ipynb").write_text("{ not json")
    _notebook_file(folder / "extra.ipynb")
    (folder / "data" / "values.csv").write_text("1,2\n")
    (folder / "timestamp.txt").write_text("2025-03-01 12:00:00 UTC")
    (folder / "link").symlink_to(tmp_path)
    (folder / "torch.py").write_text("import sys  # would shadow the real torch in the kernel's working folder\n")
    big = new_notebook(cells=[new_code_cell("x = '" + "a" * (2 * 2**20) + "'")])
    nbformat.write(big, folder / "big.ipynb")
    sub = read_submission("alice", folder, ["good", "corrupt", "big", "absent"], max_notebook_mb=1)
    assert set(sub.files) == {"good.ipynb", "timestamp.txt"}, "only the assignment's notebooks are taken"
    extra = sorted(name for kind, name, _ in sub.problems if kind == "extra")
    assert extra == ["data", "extra.ipynb", "torch.py"]
    kinds = {kind: name for kind, name, _ in sub.problems if kind != "extra"}
    assert kinds == {"corrupt": "corrupt.ipynb", "symlink": "link", "too large": "big.ipynb",
                     "missing": "absent.ipynb"}
    assert set(sub.ungradable) == {"corrupt", "big", "absent"}
    copy = tmp_path / "copy"
    sub.write_to(copy)
    assert sorted(p.name for p in copy.iterdir()) == ["good.ipynb", "timestamp.txt"]


def test_intake_refuses_a_student_id_nbgrader_cannot_glob(tmp_path):
    folder = tmp_path / "s[1]" / "hw"
    folder.mkdir(parents=True)
    _notebook_file(folder / "good.ipynb")
    sub = read_submission("s[1]", folder, ["good"])
    assert sub.files == {} and set(sub.ungradable) == {"good"} and sub.problems[0][0] == "student id"


def test_record_refuses_paths_that_leave_the_grading_folder(tmp_path):
    from cutmix_course.grading.record import write_files

    write_files(tmp_path, {"a/b.txt": b"ok"})
    assert (tmp_path / "a" / "b.txt").read_bytes() == b"ok"
    with pytest.raises(ValueError, match="outside"):
        write_files(tmp_path / "a", {"../escape.txt": b"x"})
    assert not (tmp_path / "escape.txt").exists()


def test_state_survives_nbconverts_deep_copy_of_the_resources():
    """nbconvert's exporter deep-copies `resources` before running the preprocessors; the findings must still reach
    the caller's object (they did not, at first: every problem of the real run was lost)."""
    from nbconvert.exporters import NotebookExporter

    state = GradingState()
    exporter = NotebookExporter()
    exporter.register_preprocessor(TestCellPolicy, enabled=True)
    nb = new_notebook(cells=[_test_cell(outputs=[new_output("stream", name="stderr", text="w\n")])])
    exporter.from_notebook_node(nb, resources={RESOURCES_KEY: state})
    assert [k for k, _ in state.findings] == ["stderr"]


# ------------------------------------------------------------------------------------------ Canvas export
def test_canvas_import_matches_by_login_keeps_the_roster_and_lists_every_unmatched_student(tmp_path):
    from cutmix_course.grading.export import write_canvas
    from cutmix_course.grading.record import StudentResult

    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (5),hw (12)\n"
                      "Ann,1,s1,ann,A,3,\nBob,2,s2,bob,B,4,\n", encoding="utf-8")
    results = [StudentResult("ann", score=4.5, max_score=5), StudentResult("zed", score=2, max_score=5)]
    path, unmatched = write_canvas(roster, tmp_path / "canvas.csv", "hw", results)
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "hw (12)"]  # Canvas's id
    assert [(r["SIS Login ID"], r["hw (12)"]) for r in rows] == [("ann", "4.5"), ("bob", "")]
    assert len(unmatched) == 2 and "bob" in unmatched[0] and "zed" in unmatched[1]
    path, _ = write_canvas(roster, tmp_path / "new.csv", "other", results)
    assert open(path, encoding="utf-8").readline().strip().endswith(",other")  # a new column, named after it


def test_a_file_that_is_not_a_canvas_roster_is_refused_naming_the_missing_columns(tmp_path):
    from cutmix_course.grading.export import write_canvas

    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAnn,ann@x\n", encoding="utf-8")
    with pytest.raises(GradingError, match="SIS Login ID"):
        write_canvas(roster, tmp_path / "canvas.csv", "hw", [])
    assert not (tmp_path / "canvas.csv").exists()


# ------------------------------------------------------------------------------------------ GuardedExecute
def test_guarded_execute_on_a_hand_made_notebook(tmp_path):
    """A real kernel (no sandbox, so no bubblewrap needed): output capped while it runs, a dead kernel costs the
    rest of the notebook only, and the time spent starting kernels and running cells is accounted for."""
    from nbgrader.utils import determine_grade
    from traitlets.config import Config

    from cutmix_course.grading.preprocessors import GuardedExecute
    from cutmix_course.grading.preprocessors.guarded_execute import trusted_tests

    config = Config()
    config.SandboxedKernelManager.sandbox = "none"
    config.SandboxedKernelManager.scratch_root = str(tmp_path / "scratch")
    config.SandboxedKernelManager.log_dir = str(tmp_path)
    cells = [new_code_cell("print('x' * 100)\nfor i in range(100):\n    print('flood' * 100)"),
             _test_cell("assert 1 + 1 == 2"),
             new_code_cell("import os\nos._exit(3)"),
             _test_cell("assert True", gid="test_g")]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    config.GuardedExecute.trusted_tests = trusted_tests({"n": nb})
    ex = GuardedExecute(config=config, timeout=30, max_output_bytes=2000)
    resources = {"metadata": {"path": str(tmp_path)}, "nbgrader": {"student": "s", "notebook": "n"}}
    nb, resources = ex.preprocess(nb, resources)
    state = state_of(resources)
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert len(printed) < 3000 and "output truncated by the grader" in printed
    assert determine_grade(nb.cells[1])[0] == 1
    assert nb.cells[2].outputs[-1].ename == "KernelDied" and "exit status 3" in nb.cells[2].outputs[-1].evalue
    assert nb.cells[3].outputs[0].ename == "NotRun" and determine_grade(nb.cells[3])[0] == 0
    assert [k for k, _ in state.findings] == ["output", "kernel died"]
    assert all(state.timings[k] > 0 for k in ("kernel start", "kernel stop", "cells (student code and tests)"))
    assert (tmp_path / "s--n.log").exists()  # the kernel's stderr, under a readable name


# ------------------------------------------------------------------------------------------ kernel side stays light
def test_the_kernel_side_imports_nothing_of_the_grader():
    """What runs in a student's kernel (the entry point, the tripwire) must not pull in the grader: nbgrader,
    jupyter_client, traitlets or the grading package's grader-side modules."""
    code = ("import sys\nimport cutmix_course.grading.kernel, cutmix_course.notebook.tripwire\n"
            "print(sorted(m for m in sys.modules if m.startswith(('nbgrader', 'jupyter_client', 'traitlets', "
            "'cutmix_course'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert eval(done.stdout) == ["cutmix_course", "cutmix_course.grading", "cutmix_course.grading.kernel",
                                 "cutmix_course.grading.options", "cutmix_course.grading.protocol",
                                 "cutmix_course.notebook", "cutmix_course.notebook.environment",
                                 "cutmix_course.notebook.paths", "cutmix_course.notebook.tripwire"]


def test_hidden_tests_import_nothing_of_the_grader():
    """The hidden tests run in the grader's process, and in a plain kernel (nbval, plain nbgrader, the instructor's
    notebook): they import the kernel room only, and reach the student through notebook.hidden."""
    root = Path(__file__).resolve().parents[2]
    imports = set()
    for path in sorted((root / "solutions").rglob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for line in cell.source.splitlines():
                if "cutmix_course" in line and "import" in line:
                    imports.add(line.strip().split(" import ")[0])
    assert imports and not [i for i in imports if "grading" in i or "tools" in i], imports
    assert "from cutmix_course.notebook.hidden" in imports


def test_kernel_sockets_stay_short_under_a_long_temporary_folder(tmp_path, monkeypatch):
    """A unix socket name has at most 107 bytes; a Dask worker's TMPDIR inside a test's folder is longer than that
    leaves room for (seen: 'File name too long' for every kernel of a worker, which then hung in zmq)."""
    from cutmix_course.grading.sandbox import SandboxedKernelManager

    long = tmp_path / ("x" * 60) / "worker0-tmp"
    long.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    km = SandboxedKernelManager(log_dir=str(tmp_path))
    try:
        assert len(f"ipc://{km.ip}-4") <= 107 and not km.ip.startswith(str(long))
    finally:
        shutil.rmtree(os.path.dirname(km.ip), ignore_errors=True)


def test_make_check_warns_of_an_answer_that_reads_a_name_only_a_skipped_course_cell_defines():
    from cutmix_course.notebook.self_check import names_missing_when_graded

    setup = new_code_cell("import torch\nSEED = 0")
    setup.metadata["tags"] = ["graded-run"]
    answer = new_code_cell("def f(x, k=3):\n    y = torch.zeros(k)\n    return ds.mean + y + SEED + x")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f", "schema_version": 3}
    cells = [setup, new_code_cell("ds = load()\nx = 1\ny = 2"), answer]
    assert names_missing_when_graded(cells) == {"f": ["ds"]}  # x, y, k are the answer's own


def test_the_course_answers_need_no_course_cell_the_graded_run_skips():
    """The solutions' answers read only what the graded-run cells and the answers define (the quiz's answer reads
    `numbers`, which its own tagged cell computes): untag that cell and this fails, as the grade would."""
    from cutmix_course.notebook.self_check import names_missing_when_graded

    solutions = Path(__file__).resolve().parents[2] / "solutions" / "cutout_cutmix"
    found = {nb.name: names_missing_when_graded(nbformat.read(nb, as_version=4).cells)
             for nb in sorted(solutions.glob("*.ipynb"))}
    assert len(found) == 6 and not any(found.values()), found


def test_without_keep_added_only_the_courses_cells_and_the_answers_run():
    """The switch for leaving the student's own cells out of the graded run (not yet the grader's default)."""
    from cutmix_course.notebook.self_check import graded_cells

    answer = new_code_cell("def f(x):\n    return x")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f", "schema_version": 3}
    course = [new_code_cell("import torch"), answer, _test_cell("assert f(1) == 1")]
    mine = [new_code_cell("import torch"), new_code_cell("HELPER = 1"), new_code_cell("def f(x):\n    return HELPER"),
            _test_cell("assert f(1) == 1")]
    mine[2].metadata["nbgrader"] = dict(answer.metadata["nbgrader"])
    assert [c.source for c in graded_cells(course, mine)] == [
        "import torch", "HELPER = 1", "def f(x):\n    return HELPER", "assert f(1) == 1"]
    assert [c.source for c in graded_cells(course, mine, keep_added=False)] == [
        "import torch", "def f(x):\n    return HELPER", "assert f(1) == 1"]
