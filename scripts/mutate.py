"""`make mutate`: mutation testing of the course library with mutmut, against the fast tests.

mutmut (pinned in requirements.txt) rewrites every function of the chosen modules into a trampoline that runs one
mutant at a time (an operator flipped, a constant changed, an argument dropped) and runs the tests that cover it. A
mutant the tests fail on is *killed*; one they pass on *survived*: either a missing test or an equivalent mutant
(same behaviour), which is declared in tests/mutation/equivalent.txt with one line of reasoning.

mutmut only imports mutated code from ./, src/ or source/, and the course's editable install would otherwise hand the
tests the unmutated lib/ (every mutant "survives" or has "no tests"). So the run happens in a staging folder,
build/mutation/, whose src/cutmix_course is a copy of lib/cutmix_course, and before mutmut starts, a known-bad
mutant (Cutout that hides nothing) is planted in a second copy and must fail the tests, imported from that copy.

Score = killed / (generated - declared equivalent), per module; in checks.py the mutants that only change a message
(a property or hint text, how a hint is chosen, a printed line) are counted apart, not run and not in the score: the
score is about the checks' logic, what decides pass or fail.

    python scripts/mutate.py                   # every module, capped at 60 minutes; writes reports/mutation/
    python scripts/mutate.py --sample 30       # a seeded random sample of augment.py's mutants (make test)
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "mutation"
STAGE = BUILD  # the folder of the group being run (set by use_group)
EQUIVALENTS = ROOT / "tests" / "mutation" / "equivalent.txt"

# module (under lib/cutmix_course) -> the score it must reach
TARGETS = {
    "core/augment.py": 0.90,
    "notebook/checks.py": 0.90,
    "core/validate.py": 0.90,
    "core/data.py": 0.80,
    "core/model.py": 0.80,
    "notebook/tripwire.py": 0.80,
    "grading/options.py": 0.80,
    "grading/intake.py": 0.80,
    "grading/export.py": 0.80,
    "grading/record.py": 0.80,
    "grading/protocol.py": 0.80,
}
# Two runs, each in its own staging folder. The tripwire (notebook/tripwire.py) recognises a forbidden function by
# its code object, and mutmut's trampolines share one code object, so with the library trampolined the tripwire's
# own tests would see every library call as the forbidden one: it is mutated alone, against its own tests, with
# the library left as it is. The fast tests: no notebooks, no nbgrader runs, no browser (about 15 s in one process).
GROUPS = {
    "library": ["tests/core/test_augment.py", "tests/core/test_augment_internals.py", "tests/core/test_data.py",
                "tests/core/test_model.py", "tests/notebook/test_checks.py", "tests/core/test_validation.py",
                "tests/grading/test_units.py", "tests/grading/test_pure.py"],
    "integrity": ["tests/grading/test_integrity.py", "tests/grading/test_units.py"],
}
GROUP_OF = {module: "integrity" if module == "notebook/tripwire.py" else "library" for module in TARGETS}
# what the tests read from the course besides the package (linked into the staging folder)
COURSE_FILES = ["solutions", "notebooks", "quizzes", "nbgrader_config.py"]
MESSAGE_ONLY = {"notebook/checks.py", "core/validate.py"}  # string-literal mutants here are messages, not logic

KILLED, SURVIVED, TIMEOUT, NO_TESTS, OTHER = "killed", "survived", "timeout", "no tests", "other"


def status_of(exit_code: int | None) -> str:
    if exit_code in (1, 3, -11, -9):  # a test failed, pytest errored, or the mutant crashed the process
        return KILLED
    if exit_code == 0:
        return SURVIVED
    if exit_code in (36, 24, -24, 152, 255):
        return TIMEOUT
    if exit_code in (5, 33):
        return NO_TESTS
    return OTHER  # not checked (run cut short), or mutmut's "suspicious"


def use_group(group: str, work: Path) -> None:
    global STAGE
    STAGE = work / group


def stage(selected: list[str], tests: list[str]) -> None:
    """build/mutation/<group>: src/cutmix_course (a copy), tests/, the course files, and mutmut's configuration."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(ROOT / "lib" / "cutmix_course", STAGE / "src" / "cutmix_course", ignore=ignore)
    shutil.copytree(ROOT / "tests", STAGE / "tests", ignore=ignore)
    for name in COURSE_FILES:
        (STAGE / name).symlink_to(ROOT / name)
    # tests/core/test_data.py finds the shared CIFAR-10 copy three folders above its own
    (STAGE / "shared").symlink_to(ROOT.parent / "shared", target_is_directory=True)
    only = ", ".join(json.dumps(f"src/cutmix_course/{m}") for m in selected)
    tests = ", ".join(json.dumps(t) for t in tests if (ROOT / t).exists())
    also = ", ".join(json.dumps(n) for n in [*COURSE_FILES, "shared"])
    (STAGE / "pyproject.toml").write_text(f"""\
[tool.mutmut]
source_paths = ["src"]
only_mutate = [{only}]
also_copy = [{also}]
pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", "not slow and not browser"]
pytest_add_cli_args_test_selection = [{tests}]
process_isolation = "forkserver"
use_git_change_detection = false
timeout_multiplier = 10.0
timeout_constant = 10.0

[tool.pytest.ini_options]
markers = ["slow: long", "browser: browser"]
""")


def check_setup(env: dict) -> None:
    """Plant a known-bad mutant (Cutout that hides nothing) in a copy of the package: the tests must fail on it,
    and the package they import must be that copy. Otherwise the run would measure the unmutated code."""
    bad = STAGE / "known-bad"
    shutil.copytree(STAGE / "src", bad)
    augment = bad / "cutmix_course" / "core" / "augment.py"
    augment.write_text(augment.read_text() + "\n\ndef cutout(images, *args, **kwargs):  # known-bad\n"
                       "    return images.clone()\n")
    env = {**env, "PYTHONPATH": str(bad)}
    where = subprocess.run([sys.executable, "-c", "import cutmix_course; print(cutmix_course.__file__)"],
                           env=env, capture_output=True, text=True, cwd=STAGE)
    if not where.stdout.strip().startswith(str(bad)):
        sys.exit(f"set-up check failed: the tests import cutmix_course from {where.stdout.strip() or where.stderr}, "
                 f"not from the mutated copy {bad}")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "tests/core/test_augment.py", "tests/notebook/test_checks.py"], env=env, cwd=STAGE,
                          capture_output=True, text=True)
    if done.returncode != 1:
        sys.exit(f"set-up check failed: the known-bad Cutout was not caught (pytest exit {done.returncode})\n"
                 f"{done.stdout[-2000:]}")
    shutil.rmtree(bad)
    print("set-up check: a Cutout that hides nothing is caught by the fast tests, imported from the mutated copy")


def results() -> dict[str, dict[str, int | None]]:
    out = {}
    for meta in (STAGE / "mutants" / "src" / "cutmix_course").rglob("*.py.meta"):
        module = meta.relative_to(STAGE / "mutants" / "src" / "cutmix_course").as_posix()[: -len(".meta")]
        out[module] = json.loads(meta.read_text())["exit_code_by_key"]
    return out


def all_mutants() -> dict[str, list[str]]:
    """module -> its mutant names (after the mutants are generated)."""
    return {module: sorted(codes) for module, codes in results().items()}


SOURCES = """
import json, sys
from difflib import unified_diff
import libcst as cst
from mutmut.mutation.diff_apply import read_mutant_function, read_mutants_module, read_original_function
from mutmut.utils.format_utils import get_module_from_key, mangled_name_from_mutant_name
out, modules = {}, {}
for name in json.load(sys.stdin):
    path = "src/" + get_module_from_key(mangled_name_from_mutant_name(name)).replace(".", "/") + ".py"
    if path not in modules:
        modules[path] = read_mutants_module(path)  # a minute for checks.py's thousands of mutant functions
    module = modules[path]
    a, b = (cst.Module([f]).code.strip()
            for f in (read_original_function(module, name), read_mutant_function(module, name)))
    diff = "\\n".join(unified_diff(a.split("\\n"), b.split("\\n"), fromfile=path, tofile=path, lineterm=""))
    out[name] = {"diff": diff, "original": a, "mutant": b}  # the diff as mutmut's get_diff_for_mutant renders it
print(json.dumps(out))
"""


def mutant_sources(names: list[str]) -> dict[str, dict]:
    """Each mutant's diff (mutmut's own rendering) and the source of its function before and after the mutation."""
    if not names:
        return {}
    done = subprocess.run([sys.executable, "-c", SOURCES], input=json.dumps(names), capture_output=True, text=True,
                          cwd=STAGE, check=True)
    return json.loads(done.stdout)


def _message_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes that only make up what a check tells the student: the property and hint arguments of
    `report.expect(ok, what, hint)`, what `print(...)` prints, and the values given to `hint` or `what`."""
    regions = []
    for node in ast.walk(tree):
        if _expect_call(node):
            regions += node.args[1:] + [k.value for k in node.keywords]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            regions += node.args + [k.value for k in node.keywords if k.arg != "file"]
        elif _sets_message(node):
            regions.append(node.value)
        elif isinstance(node, ast.If) and all(_sets_message(n) for n in node.body + node.orelse):
            regions.append(node.test)  # the choice between hints
    inside = {id(n) for region in regions for n in ast.walk(region)}
    # a variable read only inside messages (`uncorrected`, used to choose a hint) is computed for them alone
    while True:
        reads = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                reads.setdefault(node.id, []).append(id(node) in inside)
        more = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign) and id(node.value) not in inside
                and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and reads.get(node.targets[0].id) and all(reads[node.targets[0].id])]
        if not more:
            return inside
        inside |= {id(n) for value in more for n in ast.walk(value)}


def _sets_message(node: ast.AST) -> bool:
    if not isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return False
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return all(isinstance(t, ast.Name) and t.id in ("hint", "what") for t in targets)


def _expect_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "expect"


MESSAGE = object()  # a difference that only touches the texts of one report.expect(ok, what, hint)


def _differences(a: ast.AST, b: ast.AST, out: list) -> None:
    """Collect the nodes of `a` where `b` differs (the outermost differing node of each difference)."""
    if type(a) is not type(b):
        out.append(a)
        return
    if _expect_call(a) and _expect_call(b) and a.args and b.args and ast.dump(a.args[0]) == ast.dump(b.args[0]) \
            and ast.dump(a.func) == ast.dump(b.func):
        if ast.dump(a) != ast.dump(b):
            out.append(MESSAGE)  # the same condition, other words (an argument dropped or replaced)
        return
    for field, value in ast.iter_fields(a):
        other = getattr(b, field, None)
        if field == "name" and isinstance(a, ast.FunctionDef):
            continue  # the mutant's function has mutmut's name for it
        if isinstance(value, list):
            if not isinstance(other, list) or len(value) != len(other):
                out.append(a)
                return
            for x, y in zip(value, other):
                if isinstance(x, ast.AST):
                    _differences(x, y, out)
                elif x != y:
                    out.append(a)
                    return
        elif isinstance(value, ast.AST):
            _differences(value, other, out)
        elif value != other:
            out.append(a)
            return


def message_only(original: str, mutant: str) -> bool:
    """True when every change the mutant makes lies in a message (see `_message_nodes`): a reworded property or
    hint, a hint chosen differently, a different printed line; none of what decides pass or fail."""
    try:
        a, b = ast.parse(textwrap.dedent(original)), ast.parse(textwrap.dedent(mutant))
    except SyntaxError:
        return False
    changed: list = []
    _differences(a, b, changed)
    messages = _message_nodes(a)
    return bool(changed) and all(node is MESSAGE or id(node) in messages for node in changed)


def read_equivalents() -> dict[str, str]:
    """tests/mutation/equivalent.txt: `mutant-name  reason` per line; `#` starts a comment line."""
    out = {}
    for line in EQUIVALENTS.read_text().splitlines() if EQUIVALENTS.exists() else []:
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.strip().partition(" ")
            if not reason.strip():
                sys.exit(f"{EQUIVALENTS}: {name} is declared equivalent without a reason")
            out[name] = reason.strip()
    return out


GENERATE = """
import os
from mutmut.__main__ import copy_also_copy_files, copy_src_dir, create_mutants
from mutmut.mutation.trampoline import set_mutant_under_test
set_mutant_under_test("mutant_generation")
os.makedirs("mutants", exist_ok=True)
copy_src_dir()
copy_also_copy_files()
create_mutants(os.cpu_count() or 2)
"""


def run_mutmut(names: list[str], env: dict, deadline: float) -> bool:
    """`mutmut run` in the staging folder; False when the time cap cut it short (results so far are kept)."""
    try:
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(os.cpu_count() or 2), *names],
                       cwd=STAGE, env=env, timeout=max(1.0, deadline - time.monotonic()), check=True)
        return True
    except subprocess.TimeoutExpired:
        print("\ntime cap reached: the mutants not yet run are counted as 'not run'")
        return False
    except subprocess.CalledProcessError as error:
        sys.exit(f"mutmut stopped with exit code {error.returncode} (its message is above); nothing was scored")


def table(selected: list[str], only: set[str] | None) -> tuple[list[dict], list[dict]]:
    """Per-module counts, and the survivors not declared equivalent."""
    equivalent = read_equivalents()
    by_module = results()
    names = [n for m in selected for n in by_module.get(m, {}) if only is None or n in only]
    source_of = mutant_sources(names)
    rows, survivors = [], []
    for module in selected:
        codes = {n: c for n, c in by_module.get(module, {}).items() if only is None or n in only}
        row = dict(module=module, generated=len(codes), killed=0, survived=0, timeout=0, equivalent=0,
                   messages=0, no_tests=0, not_run=0, target=TARGETS[module])
        for name, code in codes.items():
            status = status_of(code)
            if module in MESSAGE_ONLY and message_only(source_of[name]["original"], source_of[name]["mutant"]):
                row["messages"] += 1
            elif name in equivalent:
                row["equivalent"] += 1
                if status == KILLED:
                    print(f"note: {name} is declared equivalent but a test kills it; remove it from {EQUIVALENTS}")
            elif status == KILLED:
                row["killed"] += 1
            elif status == TIMEOUT:
                row["timeout"] += 1  # an infinite loop the tests stopped: a kill, reported apart
            elif status == SURVIVED or status == NO_TESTS:
                row["survived" if status == SURVIVED else "no_tests"] += 1
                survivors.append(dict(name=name, module=module, status=status, diff=source_of[name]["diff"]))
            else:
                row["not_run"] += 1
        scored = row["generated"] - row["equivalent"] - row["messages"] - row["not_run"]
        row["score"] = (row["killed"] + row["timeout"]) / scored if scored else None
        rows.append(row)
    return rows, survivors


def print_table(rows: list[dict]) -> None:
    head = ["module", "generated", "killed", "timeout", "survived", "no_tests", "equivalent", "messages", "not_run",
            "score", "target"]
    print(f"{head[0]:<22}" + "".join(f"{h:>11}" for h in head[1:]))
    for row in rows:
        score = "-" if row["score"] is None else f"{100 * row['score']:.1f}%"
        cells = [str(row[h]) for h in head[1:-2]] + [score, f"{100 * row['target']:.0f}%"]
        print(f"{row['module']:<22}" + "".join(f"{c:>11}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="*", default=list(TARGETS), help="modules under lib/cutmix_course")
    parser.add_argument("--sample", type=int, help="run only this many mutants of augment.py, drawn with --seed")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("MUTATION_SEED", "2026")))
    parser.add_argument("--minutes", type=float, default=60.0, help="time cap for the whole run")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "mutation")
    parser.add_argument("--work", type=Path, default=BUILD, help="staging folders (replaced on every run)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(TARGETS))
    if unknown:
        parser.error(f"unknown modules {unknown}; expected some of {sorted(TARGETS)}")
    selected = ["core/augment.py"] if args.sample else args.modules
    deadline = time.monotonic() + 60 * args.minutes
    started = time.monotonic()

    env = {k: v for k, v in os.environ.items() if k not in ("MUTANT_UNDER_TEST", "PYTHONPATH")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    rows, survivors, finished, only = [], [], True, None
    for group, tests in GROUPS.items():
        modules = [m for m in selected if GROUP_OF[m] == group]
        if not modules:
            continue
        use_group(group, args.work)
        print(f"== {group}: {', '.join(modules)}")
        stage(modules, tests)
        check_setup(env)
        # subprocesses the tests start (the kernel-side import check, the audit hook) import the mutated copy too
        group_env = {**env, "PYTHONPATH": str(STAGE / "mutants" / "src")}
        # generate the mutants first (mutmut's own first step), so that mutants/src exists before any process
        # starts with it on PYTHONPATH (Python caches a missing path entry as "nothing here" for the process's life)
        subprocess.run([sys.executable, "-c", GENERATE], cwd=STAGE, env=group_env, check=True, capture_output=True)
        generated = all_mutants()
        if args.sample:
            names = generated["core/augment.py"]
            only = set(random.Random(args.seed).sample(names, min(args.sample, len(names))))
            print(f"sample: {len(only)} of {len(names)} mutants of augment.py, seed {args.seed}")
            to_run = sorted(only)
        else:  # every mutant but those that only reword a check's message (not scored, so not run)
            names = [n for m in modules for n in generated.get(m, [])]
            wording = [n for m in modules if m in MESSAGE_ONLY for n in generated.get(m, [])]
            messages = {n for n, m in mutant_sources(wording).items() if message_only(m["original"], m["mutant"])}
            to_run = [n for n in names if n not in messages]
            print(f"{len(names)} mutants, {len(messages)} of them only change a message: running {len(to_run)}")
        # the checks' mutants are the slow ones (each runs a check's property tests): they go last, so that a run
        # cut short by the time cap has scored every other module
        slow = [n for n in to_run if ".checks." in n]
        for batch in ([n for n in to_run if n not in set(slow)], slow):
            if batch:
                finished = run_mutmut(batch, group_env, deadline) and finished
        group_rows, group_survivors = table(modules, only)
        rows += group_rows
        survivors += group_survivors

    minutes = (time.monotonic() - started) / 60
    print(f"\nmutation score per module ({'sample, ' if only else ''}{minutes:.1f} min, "
          f"{'complete' if finished else 'cut short by the time cap'}):")
    print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scores.json").write_text(json.dumps(dict(rows=rows, minutes=minutes, finished=finished,
                                                          sample=sorted(only) if only else None), indent=1))
    with open(args.out / "survivors.txt", "w") as f:
        for s in survivors:
            f.write(f"{s['name']}  ({s['status']})\n{s['diff']}\n\n")
    print(f"{len(survivors)} survivors not declared equivalent: {args.out / 'survivors.txt'}")
    if only is not None:
        return 1 if survivors or not finished else 0
    below = [r["module"] for r in rows if r["score"] is not None and r["score"] < r["target"]]
    if below:
        print(f"below target: {', '.join(below)}")
    return 1 if below or not finished else 0


if __name__ == "__main__":
    sys.exit(main())
