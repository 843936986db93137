"""The student kit (`make student-kit`): what is in it, what must never be, and that it runs on its own.

The kit is unpacked into an empty folder; its notebooks run there under nbval (quick mode) with the project's venv
and the kit's own package first on the path, and a kernel started the same way is asked where it imported
`cutmix_course` from. Every file is scanned for lines of the solutions' solution and hidden-test regions (short
lines and lines that also occur in the package or the release are ignored: they give nothing away) and for the
quiz's answers (salt, hashes, explanations). The student release in notebooks/ is run under nbval here, in the kit,
rather than in the repository (tests/e2e/test_notebooks.py runs the solutions). The kit's notebooks name no command,
file or folder the kit lacks.
"""
import io
import json
import os
import re
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import nbformat
import pytest

import kernel_timeouts as kt
from cutmix_course.notebook import quiz, self_check
from cutmix_course.tools import kit

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions" / "cutout_cutmix"
RELEASE = ROOT / "notebooks" / "cutout_cutmix"
MIN_LINE = 16  # shorter stripped lines (`return out`, `out = x.clone()`) are left out of the scan
REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def _sources(nb) -> list[str]:
    return [c.source for c in nb.cells]


def _text(name: str, data: bytes) -> str:
    """What a file says: a notebook's cell sources and outputs, any other file's text."""
    if name.endswith(".ipynb"):
        nb = nbformat.reads(data.decode(), as_version=4)
        parts = _sources(nb)
        for c in nb.cells:
            for out in c.get("outputs", []):
                parts.append(str(out.get("text", "")) + json.dumps(out.get("data", {})))
        return "\n".join(parts)
    return data.decode("utf-8", errors="replace")


def code_only(source: str) -> str:
    """Python source with its strings and comments blanked: the package's code, not what its messages say."""
    lines = source.splitlines(keepends=True)
    out = [list(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT):
            (r1, c1), (r2, c2) = tok.start, tok.end
            for r in range(r1, r2 + 1):
                a = c1 if r == r1 else 0
                b = c2 if r == r2 else len(out[r - 1])
                out[r - 1][a:b] = [" "] * (b - a)
    return "".join("".join(chars) for chars in out)


def secret_lines() -> set[str]:
    """Lines of the solution and hidden-test regions of the instructor notebooks that say something: not short,
    not in the code of the package (which ships reference implementations) nor a line of the release's cells."""
    lines = set()
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for _, body in REGION.findall(cell.source + "\n"):
                lines.update(s for line in body.splitlines() if len(s := line.strip()) >= MIN_LINE)
            if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):  # model answers
                lines.update(s for line in cell.source.splitlines() if len(s := line.strip()) >= MIN_LINE)
    code = "\n".join(code_only(p.read_text()) for p in sorted((ROOT / "lib").rglob("*.py")))
    release = {line.strip() for p in sorted(RELEASE.glob("*.ipynb"))
               for line in _text(p.name, p.read_bytes()).splitlines()}
    return {s for s in lines if s not in code and s not in release}


def quiz_secrets() -> set[str]:
    """What of the quiz must never be readable in the kit: every explanation in plain text (the kit may carry
    practice questions sealed, so their Check button works), and the hashes and salt of any question that counts."""
    from quiz_key import ANSWERS

    sealed = json.loads((ROOT / "quizzes" / "cutout_cutmix.json").read_text())
    plain = quiz.unseal(sealed, ANSWERS)
    secrets = set()
    for q, s in zip(plain["questions"], sealed["questions"]):
        secrets.update(x.strip() for x in re.split(r"(?<=[.!?])\s", q["explanation"]) if len(x.strip()) >= 30)
        if not s.get("practice"):
            secrets.update({sealed["salt"], s["answer_sha256"]})
    return secrets


def leaks(files: dict[str, bytes]) -> list[str]:
    """Every (file, secret) where a kit file holds a solution/hidden-test line or a quiz secret; forbidden paths."""
    found = [f"{name}: forbidden path" for name in files
             if re.search(r"/(solutions|tests|submitted|autograded|feedback)/|gradebook|nbgrader_config\.py$", name)]
    secrets = secret_lines() | quiz_secrets()
    for name, data in files.items():
        text = _text(name, data)
        found += [f"{name}: {s[:70]}" for s in secrets if s in text]
    return found


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "kit.zip"
    kit.build(ROOT, out)
    dest = tmp_path_factory.mktemp("empty")
    with zipfile.ZipFile(out) as zf:
        zf.extractall(dest)
        names = zf.namelist()
    return dest / kit.KIT_NAME, names, out


def test_the_kit_holds_the_notebooks_the_package_and_the_two_commands(unpacked):
    folder, names, _ = unpacked
    assert sorted(p.name for p in (folder / "notebooks" / "cutout_cutmix").glob("*.ipynb")) == \
        sorted(p.name for p in RELEASE.glob("*.ipynb"))
    for name in RELEASE.glob("*.ipynb"):
        assert (folder / "notebooks" / "cutout_cutmix" / name.name).read_bytes() == name.read_bytes()
    package = folder / "lib" / "cutmix_course"
    assert (package / "core" / "augment.py").is_file() and (package / "notebook" / "checks.py").is_file()
    # what a student's kernel needs, and nothing of the grader or the instructor's tools
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py", "__main__.py", "core", "notebook"]
    assert sorted({n.split("/")[1] for n in names}) == sorted(
        ["Makefile", "README.md", "lib", "notebooks", "pyproject.toml", "quizzes", "requirements.txt", "setup.py"])
    make = (folder / "Makefile").read_text()
    assert re.search(r"^lab:", make, re.M) and re.search(r"^check:.*\n.*cutmix_course check", make, re.M)
    readme = (folder / "README.md").read_text()
    assert "make lab" in readme and "make check" in readme and "solutions" not in readme
    # the same pins as the project's requirements, the instructor's tools left out
    req = (folder / "requirements.txt").read_text().splitlines()
    project = set((ROOT / "requirements.txt").read_text().splitlines())
    pins = [line for line in req if "==" in line]
    assert pins and all(line in project for line in pins) and "-e ." in req
    assert not any(line.startswith(("pytest", "mutmut", "playwright", "dask", "psycopg")) for line in req)


def test_no_solution_hidden_test_or_quiz_answer_in_any_file_of_the_kit(unpacked):
    _, _, out = unpacked
    with zipfile.ZipFile(out) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    assert len(secret_lines()) > 50 and len(quiz_secrets()) > 5  # the scan has something to look for
    assert leaks(files) == []
    copy = json.loads(files[f"{kit.KIT_NAME}/quizzes/cutout_cutmix.json"])
    sealed = json.loads((ROOT / "quizzes" / "cutout_cutmix.json").read_text())
    assert copy == quiz.student_copy(sealed) and len(copy["questions"]) == 3


def test_the_scan_finds_a_planted_solution_line_hidden_test_and_quiz_answer(unpacked):
    _, _, out = unpacked
    with zipfile.ZipFile(out) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    solution = sorted(secret_lines())
    sealed = (ROOT / "quizzes" / "cutout_cutmix.json").read_bytes()
    from quiz_key import ANSWERS

    explanation = quiz.load().explanation("q2", ANSWERS["q2"])
    planted = {**files, f"{kit.KIT_NAME}/notes.py": f"# {solution[0]}\n".encode(),
               f"{kit.KIT_NAME}/quizzes/cutout_cutmix.json": sealed + explanation.encode(),
               f"{kit.KIT_NAME}/solutions/cutout_cutmix/02_cutout.ipynb":
                   nbformat.writes(nbformat.v4.new_notebook()).encode()}
    found = "\n".join(leaks(planted))
    assert "notes.py" in found and "quizzes/cutout_cutmix.json" in found and "forbidden path" in found


def _kit_env(folder: Path) -> dict:
    return {**os.environ, "CUTMIX_QUICK": "1", "PYTHONPATH": str(folder / "lib"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.mark.slow
def test_the_kit_runs_from_its_own_folder_with_its_own_package(unpacked, monkeypatch, tmp_path):
    folder, _, _ = unpacked
    env = _kit_env(folder)
    # a kernel started like nbval's imports the kit's package, not the repository's
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    where = "import cutmix_course; print(cutmix_course.__file__)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(where)])
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(folder / "notebooks" / "cutout_cutmix")}}).execute()
    assert Path(nb.cells[0].outputs[0].text.strip()).is_relative_to(folder / "lib"), nb.cells[0].outputs[0].text
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", f"--nbval-cell-timeout={kt.NBVAL_CELL}", "-q",
         "-p", "no:cacheprovider", "-o", "addopts=", "notebooks/cutout_cutmix"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=6 * kt.NBVAL_RUN)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and "skipped" not in result.stdout


@pytest.mark.slow
def test_make_check_lists_each_public_check(unpacked, tmp_path):
    """The kit's `make check` on the untouched release: nothing passes, every check is not answered yet (exit 0: work
    to do, not a fault; no kernel warning); on the solution every check passes; a wrong Cutout fails with what the
    check said; a course cell the student broke runs as released, as it does in grading."""
    folder, _, _ = unpacked
    result = subprocess.run([sys.executable, "-m", "cutmix_course", "check", "notebooks/cutout_cutmix/02_cutout.ipynb"],
                            cwd=folder, env=_kit_env(folder), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "without encryption" not in result.stdout + result.stderr
    assert re.search(r"test_cutout_one\s+not answered yet", result.stdout)
    assert "0 passed, 2 not answered yet, 0 failed, 0 not run" in result.stdout

    solution = nbformat.read(SOLUTIONS / "02_cutout.ipynb", as_version=4)
    (tmp_path / "good").mkdir()
    nbformat.write(solution, tmp_path / "good" / "02_cutout.ipynb")
    rows, warnings = self_check.run_notebook(tmp_path / "good" / "02_cutout.ipynb")
    assert warnings == []
    assert [(r["grade_id"], r["status"]) for r in rows] == [("test_cutout_one", "passed"),
                                                            ("test_cutout_batch", "passed")]
    cell = next(c for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "cutout_one")
    cell.source = "def cutout_one(image, size, cy, cx):\n    return image.clone()\n"
    (tmp_path / "bad").mkdir()
    nbformat.write(solution, tmp_path / "bad" / "02_cutout.ipynb")
    rows = {r["grade_id"]: r for r in self_check.run_notebook(tmp_path / "bad" / "02_cutout.ipynb")[0]}
    assert rows["test_cutout_one"]["status"] == "failed" and rows["test_cutout_one"]["message"]
    assert rows["test_cutout_batch"]["status"] == "passed"

    # the release's own notebook, answered, with its set-up cell broken by the student: it runs as released (their
    # broken copy after it), as in grading
    release = nbformat.read(folder / "notebooks" / "cutout_cutmix" / "02_cutout.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source
               for c in nbformat.read(SOLUTIONS / "02_cutout.ipynb", as_version=4).cells  # unchanged by the above
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in release.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    setup = next(c for c in release.cells if c.cell_type == "code")
    setup.source = "import torch\nraise RuntimeError('my set-up')\n" + setup.source
    (tmp_path / "edited").mkdir()
    nbformat.write(release, tmp_path / "edited" / "02_cutout.ipynb")
    rows, warnings = self_check.run_notebook(tmp_path / "edited" / "02_cutout.ipynb")
    assert warnings == []
    assert {r["grade_id"]: r["status"] for r in rows} == {"test_cutout_one": "passed", "test_cutout_batch": "passed"}


# what a kit notebook may name without the kit holding it: folders the notebooks themselves create
MADE_BY_THE_NOTEBOOKS = {"trained/": "notebook 4 saves its models there", "~/.cache/cutmix_course": "the photos' cache"}


def unknown_references(folder: Path) -> list[str]:
    """Every `make <target>`, `python -m cutmix_course <command>` and file or folder named in backticks in the kit's
    notebooks that the kit lacks: a student can only follow what they were given."""
    from cutmix_course.__main__ import COMMANDS

    targets = set(re.findall(r"^([\w-]+):", (folder / "Makefile").read_text(), re.M))
    commands = {name for name, (target, _) in COMMANDS.items()
                if (folder / "lib" / Path(*target.split(":")[0].split("."))).with_suffix(".py").is_file()}
    found = []
    for path in sorted((folder / "notebooks").rglob("*.ipynb")):
        text = "\n".join(_sources(nbformat.read(path, as_version=4)))
        found += [f"{path.name}: make {t}" for t in re.findall(r"`make ([\w-]+)", text) if t not in targets]
        found += [f"{path.name}: python -m cutmix_course {c}"
                  for c in re.findall(r"python -m cutmix_course ([\w-]+)", text) if c not in commands]
        for named in re.findall(r"`([^`\s]*(?:/|\.(?:py|md|json|txt|ipynb|toml|csv))[^`\s]*)`", text):
            if named not in MADE_BY_THE_NOTEBOOKS and not any((base / named).exists()
                                                              for base in (folder, path.parent)):
                found.append(f"{path.name}: {named}")
        found += [f"{path.name}: {m}" for m in re.findall(r"\b(?:scripts|docs|tests|solutions)/[\w./-]*", text)]
    return sorted(set(found))


def test_the_kit_notebooks_name_only_what_the_kit_has(unpacked, tmp_path):
    folder, _, _ = unpacked
    assert unknown_references(folder) == []
    # the scan sees what the project has and the kit lacks
    planted = tmp_path / "kit"
    (planted / "notebooks").mkdir(parents=True)
    (planted / "Makefile").write_text((folder / "Makefile").read_text())
    nb = nbformat.read(folder / "notebooks" / "cutout_cutmix" / "04_training.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(
        "`make trace` reports 20 epochs (`docs/results.md`); `python -m cutmix_course bench` times it"))
    nbformat.write(nb, planted / "notebooks" / "04_training.ipynb")
    (planted / "lib").symlink_to(folder / "lib")
    assert unknown_references(planted) == ["04_training.ipynb: docs/results.md", "04_training.ipynb: make trace",
                                           "04_training.ipynb: python -m cutmix_course bench"]


# How a notebook marks a number its own run does not compute: a course measurement, someone else's result, a paper
QUOTED = re.compile(r"course's 2-core test machine|when this course measured|when measured|Someone else's results|"
                    r"on the shared CIFAR-10|arxiv\.org")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?\s?(?:%|s\b|min\b)")  # percentages and durations


def readme_quotes(folder: Path) -> dict[str, list[str]]:
    """The kit README's table of quoted numbers: notebook number ('01') -> the notebook's words it quotes."""
    section = (folder / "README.md").read_text(encoding="utf-8").split("## Numbers the notebooks quote", 1)[-1]
    quotes: dict[str, list[str]] = {}
    for notebook, said in re.findall(r"^\| (\d\d) \| (.*?) \| .*\|$", section, re.M):
        quotes.setdefault(notebook, []).extend(re.findall(r'"([^"]+)"', said))
    return quotes


def quoted_paragraphs(nb) -> list[str]:
    """The markdown paragraphs (whitespace collapsed) that mark a quoted number, with a table right after one."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        marked = False
        for para in re.split(r"\n\s*\n", cell.source):
            table = para.lstrip().startswith("|")
            if QUOTED.search(para) or (table and marked):
                found.append(" ".join(para.split()))
            marked = bool(QUOTED.search(para)) or (table and marked)
    return found


def unsourced_numbers(folder: Path) -> list[str]:
    """Numbers a kit notebook quotes that the kit README's table does not list, and quotes of that table that their
    notebook no longer says: a student must be able to look up where every quoted number comes from."""
    quotes = readme_quotes(folder)
    found = []
    for path in sorted((folder / "notebooks").rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        prose = " ".join(" ".join(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
        mine = quotes.get(path.name[:2], [])
        found += [f"README: {q!r} is not in {path.name}" for q in mine if q not in prose]
        listed = {n for q in mine for n in NUMBER.findall(q)}
        found += [f"{path.name}: {n} ({para[:50]}...)" for para in quoted_paragraphs(nb)
                  for n in NUMBER.findall(para) if n not in listed]
    return found


def test_every_number_a_notebook_quotes_is_in_the_kit_readme_with_its_source(unpacked, tmp_path):
    folder, _, _ = unpacked
    assert unsourced_numbers(folder) == []
    # a new quoted number, and a README quote the notebook no longer says, are both found
    planted = tmp_path / "kit"
    (planted / "notebooks").mkdir(parents=True)
    (planted / "README.md").write_text((folder / "README.md").read_text(encoding="utf-8").replace(
        '"about 6 s on a 2-core laptop CPU"', '"about 4 s on a 2-core laptop CPU"'), encoding="utf-8")
    for name in ("02_cutout", "03_cutmix"):
        nb = nbformat.read(folder / "notebooks" / "cutout_cutmix" / f"{name}.ipynb", as_version=4)
        if name == "03_cutmix":
            nb.cells.append(nbformat.v4.new_markdown_cell("Someone else's results: 12.5% on ImageNet."))
        nbformat.write(nb, planted / "notebooks" / f"{name}.ipynb")
    assert unsourced_numbers(planted) == [
        "README: 'about 4 s on a 2-core laptop CPU' is not in 02_cutout.ipynb",
        "02_cutout.ipynb: 6 s (**Time.** Running every cell takes about 6 s on a ...)",
        "03_cutmix.ipynb: 12.5% (Someone else's results: 12.5% on ImageNet....)"]
