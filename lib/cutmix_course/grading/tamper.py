"""Static review of a submitted notebook: code that touches the testing machinery, found before any of it runs.

Nothing inside the student's kernel can be made tamper-proof (threat model: everything in it is hostile), so the
verdict on tampering is taken here, in the grader's own process, from the submitted source alone: it cannot be
switched off by the code it reads. Every code cell of the submission is parsed (IPython syntax first turned into
Python by IPython's own transformer) and each rule below quotes the lines it finds. The course's test and locked
cells are skipped, known by their grade_id in the course's own notebook, never by the submission's metadata (nbgrader
puts the instructor's source back into them, so what a student wrote there never runs), and so are lines that are
also lines of the instructor's notebook outside its solution and hidden-test regions (the set-up cells): they are
the course's own. Code the review cannot parse or walk is held (`unreadable`): a review that cannot decide holds.

Attack classes (the report's words), each with what betrays it:

- `torch patching`: assigning or deleting an attribute of a module or class the notebook imported (`torch.equal =
  ...`, `torch.Tensor.__eq__ = ...`, `F.softmax = ...`), also through `setattr`;
- `tensor subclass`: a class derived from a torch tensor, `__torch_function__` / `__torch_dispatch__`,
  `as_subclass` / `_make_subclass`;
- `tripwire`: the tripwire's names (`forbid_reference`, `FORBIDDEN`, `tripwire`, `ReferenceUsedError`), profile and
  trace hooks (`setprofile`, `settrace`), `sys.modules`, import hooks;
- `IPython`: `get_ipython`, IPython's modules, the shell's error and display hooks, `sys.stdout`/`sys.stderr`
  replaced, IPython magics and shell escapes;
- `checks or builtins`: the `builtins` module or `__builtins__`, the checks modules imported by the student, and
  rebinding at the top level a name the hidden tests read (a builtin such as `all`, or `torch`, `checks`, `ds`);
- `hidden code`: `exec`, `eval`, `compile`, `__import__`, `importlib`, `ctypes`, `getattr`/`setattr`/`delattr`,
  `globals`/`vars`/`locals`, frames and code objects, `gc`, `inspect`, dunder attributes;
- `reference`, in an exercise's answer cell only: an import of a module outside policy.ANSWER_IMPORTS (the course's
  package, torchvision, threading, ...), a name the exercise may not call (notebook.exercises.FORBIDDEN, resolved
  through the notebook's import aliases; `x.softmax(...)` for `torch.Tensor.softmax`), or torch's operator registry
  (`torch.ops`, `torch._C`).

A notebook with any finding is **held**: the grader scores its autograded tests 0 and marks them for manual
grading, quoting the lines in report.json, the CSV and the summary; the instructor restores the points in the
formgrader when the code was innocent. So an attack, working or not, never scores more than the same submission
without it, and nothing is hidden from the instructor.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nbgrader import utils as nbutils

from ..notebook.exercises import FORBIDDEN
from ..notebook.regions import hidden_tests, outside_regions
from . import policy

TORCH_PATCH, SUBCLASS, TRIPWIRE, IPYTHON, CHECKS, HIDDEN, REFERENCE = (
    "torch patching", "tensor subclass", "tripwire", "IPython", "checks or builtins", "hidden code", "reference")



@dataclass(frozen=True)
class Finding:
    kind: str      # one of the attack classes above
    cell: str      # "cell 7 (cutout_batch)"
    line: int      # 1-based line in the cell
    code: str      # the line, stripped
    why: str

    def text(self) -> str:
        return f"{self.cell} line {self.line}: `{self.code[:120]}` ({self.why})"


def course_lines(source_nb) -> set[str]:
    """Stripped lines of the instructor notebook's code cells outside solution and hidden-test regions."""
    return {line.strip() for cell in source_nb.cells if cell.cell_type == "code"
            for line in outside_regions(cell.source) if line.strip()}


def protected_names(source_nb) -> set[str]:
    """Names the hidden tests read but do not bind (builtins, modules, the data set), minus the exercises' own
    functions (a student defines those)."""
    loaded, bound, exercises = set(), set(), set()
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):  # what a student's answer binds: the exercise's functions, the quiz's answers
            try:
                for node in ast.walk(ast.parse(cell.source)):
                    if isinstance(node, ast.FunctionDef):
                        exercises.add(node.name)
                    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        exercises.add(node.id)
            except SyntaxError:
                pass
        for block in hidden_tests(cell.source):
            try:
                tree = ast.parse(block)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    bound.add(node.name)
    return (loaded - bound - exercises) | {"checks"}


def _python(source: str) -> str:
    """IPython syntax (magics, shell escapes) as the Python it runs, line for line where possible."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot transform is parsed as it is
        return source


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    return ".".join(reversed(parts))


class _Scanner(ast.NodeVisitor):
    def __init__(self, imported: set, protected: set, aliases: dict, exercise: str | None = None):
        self.imported, self.protected, self.aliases = imported, protected, aliases
        self.exercise = exercise  # the answer cell's exercise (its grade_id), None for any other cell
        self.forbidden = set(FORBIDDEN.get(exercise or "", ()))
        self.hits: list[tuple[str, int, str]] = []  # (kind, line, why)
        self.depth = 0  # > 0 inside a function or class body

    def hit(self, kind, node, why):
        self.hits.append((kind, getattr(node, "lineno", 1), why))

    # imports -----------------------------------------------------------------------------------------------
    def _module(self, name: str, node) -> None:
        top = name.split(".")[0]
        if top in policy.HIDING_MODULES:
            self.hit(HIDDEN, node, f"imports {name}")
        elif top in policy.IPYTHON_MODULES:
            self.hit(IPYTHON, node, f"imports {name}")
        elif top == "builtins":
            self.hit(CHECKS, node, "imports builtins")
        elif name.startswith(policy.TRIPWIRE_MODULES):
            self.hit(TRIPWIRE, node, f"imports {name}")
        elif name in policy.CHECKS_MODULES:
            self.hit(CHECKS, node, f"imports {name}")
        elif self.exercise and top not in policy.ANSWER_IMPORTS:
            self.hit(REFERENCE, node, f"imports {name}: an answer may import only "
                                      f"{', '.join(sorted(policy.ANSWER_IMPORTS))}")

    def _reference(self, dotted: str, node) -> None:
        """In an answer cell: a forbidden name of its exercise, or torch's internals, reached by `dotted`."""
        if not self.exercise or not dotted:
            return
        head, _, rest = dotted.partition(".")
        full = ".".join(p for p in (self.aliases.get(head, head), rest) if p)
        methods = {f.rsplit(".", 1)[1] for f in self.forbidden if f.startswith("torch.Tensor.")}
        if full in self.forbidden or full.startswith(policy.TORCH_INTERNALS):
            self.hit(REFERENCE, node, f"uses {full}, which {self.exercise} may not call")
        elif rest and full.rsplit(".", 1)[-1] in methods and head not in self.aliases:
            self.hit(REFERENCE, node, f"calls .{full.rsplit('.', 1)[-1]}(), which {self.exercise} may not call")

    def visit_Import(self, node):
        for alias in node.names:
            self._module(alias.name, node)
            self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                alias.name.split(".")[0]
            if alias.asname and alias.asname != alias.name.split(".")[-1]:  # `import torch` again binds torch itself
                self._bind(alias.asname, node)
            self.imported.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._module(module, node)
        for alias in node.names:
            self._module(f"{module}.{alias.name}", node)
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
            self._reference(alias.asname or alias.name, node)
            if alias.name in policy.TRIPWIRE_NAMES | {"checks", "_checks"} and module.startswith("cutmix_course"):
                self.hit(TRIPWIRE if alias.name != "checks" else CHECKS, node, f"imports {module}.{alias.name}")
            self._bind(alias.asname or alias.name, node)
            self.imported.add(alias.asname or alias.name)

    # bindings ----------------------------------------------------------------------------------------------
    def _bind(self, name: str, node) -> None:
        if self.depth == 0 and name in self.protected:
            self.hit(CHECKS, node, f"rebinds `{name}`, which the hidden tests read")

    def _target(self, target, node, deleting=False) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, node)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, node, deleting)
        elif isinstance(target, ast.Starred):
            self._target(target.value, node, deleting)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            dotted = _dotted(target.value if isinstance(target, ast.Subscript) else target)
            root = dotted.split(".")[0]
            if isinstance(target, ast.Attribute) and root in self.imported | self.protected:
                kind = TRIPWIRE if set(dotted.split(".")) & policy.TRIPWIRE_NAMES else \
                    IPYTHON if set(dotted.split(".")) & (policy.IPYTHON_NAMES | {"stdout", "stderr"}) else \
                    CHECKS if root in ("checks", "_checks", "builtins") else TORCH_PATCH
                self.hit(kind, node, f"{'deletes' if deleting else 'replaces'} `{dotted}`")
            elif root == "sys" or dotted.startswith("sys."):
                self.hit(TRIPWIRE, node, f"writes into `{dotted}`")

    def visit_Assign(self, node):
        for t in node.targets:
            self._target(t, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for t in node.targets:
            self._target(t, node, deleting=True)
        self.generic_visit(node)

    def visit_For(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self._target(item.optional_vars, node)
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Global(self, node):
        for name in node.names:
            if name in self.protected:
                self.hit(CHECKS, node, f"declares `{name}` global, which the hidden tests read")

    def _scope(self, node):
        self._bind(node.name, node)
        if node.name in ("__torch_function__", "__torch_dispatch__"):
            self.hit(SUBCLASS, node, f"defines {node.name}")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _scope  # noqa: N815

    def visit_ClassDef(self, node):
        for base in node.bases:
            if _dotted(base).split(".")[-1] in ("Tensor", "TensorBase", "Parameter"):
                self.hit(SUBCLASS, node, f"derives a class from {_dotted(base)}")
        self._scope(node)

    # uses --------------------------------------------------------------------------------------------------
    def visit_Call(self, node):
        name = _dotted(node.func)
        last = name.split(".")[-1]
        if name in policy.HIDING_CALLS or last in ("__import__", "import_module"):
            self.hit(HIDDEN, node, f"calls {name}")
        if last in ("as_subclass", "_make_subclass", "_make_wrapper_subclass"):
            self.hit(SUBCLASS, node, f"calls {last}")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in self.aliases and isinstance(node.ctx, ast.Load):
            self._reference(node.id, node)
        if node.id == "__builtins__":
            self.hit(CHECKS, node, "uses __builtins__")
        elif node.id in ("get_ipython", "In", "Out", "_ih", "_oh"):
            self.hit(IPYTHON, node, f"uses {node.id}")
        elif node.id in policy.TRIPWIRE_OBJECTS:
            self.hit(TRIPWIRE, node, f"uses {node.id}")

    def visit_Attribute(self, node):
        self._reference(_dotted(node), node)
        attr = node.attr
        if attr in policy.TRIPWIRE_NAMES and (attr != "modules" or _dotted(node.value) == "sys"):
            self.hit(TRIPWIRE, node, f"uses .{attr}")
        elif attr in policy.IPYTHON_NAMES:
            self.hit(IPYTHON, node, f"uses .{attr}")
        elif attr in policy.FRAME_NAMES:
            self.hit(HIDDEN, node, f"uses .{attr}")
        elif attr.startswith("__") and attr.endswith("__") and attr not in policy.ALLOWED_DUNDERS:
            self.hit(HIDDEN, node, f"uses .{attr}")
        self.generic_visit(node)


UNREADABLE = "unreadable"  # code the review cannot parse or walk: held, never passed (fail closed)


def restored_ids(source_nb) -> set[str]:
    """grade_ids of the course's locked and test cells, from the course's own notebook (never the submission's
    metadata): nbgrader puts their source back, so what a submission holds under these ids never runs."""
    return {c.metadata["nbgrader"]["grade_id"] for c in source_nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") and nbutils.is_locked(c)}


def scan(submitted_nb, source_nb) -> list[Finding]:
    """Every finding in the submitted notebook's code cells (see the module docstring)."""
    ours = course_lines(source_nb)
    protected = protected_names(source_nb)
    restored, seen_ids = restored_ids(source_nb), set()
    answers = {c.metadata["nbgrader"]["grade_id"] for c in source_nb.cells if nbutils.is_solution(c)}
    imported: set = set()
    aliases: dict = {}
    findings: list[Finding] = []
    for index, cell in enumerate(submitted_nb.cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        first = gid not in seen_ids
        seen_ids.add(gid)
        if cell.get("cell_type") != "code" or (gid in restored and first):
            continue  # restored from the gradebook (a second cell with the same id is de-duplicated, and runs)
        label = f"cell {index}" + (f" ({gid})" if gid else "")
        raw = cell.get("source", "")
        scanner = _Scanner(imported, protected, aliases, gid if gid in answers and first else None)
        findings += _scan_cell("".join(raw) if isinstance(raw, list) else raw, label, scanner, ours)
    return findings


def _scan_cell(raw: str, label: str, scanner: "_Scanner", ours: set) -> list[Finding]:
    """The findings of one student cell, each quoting its line of the cell as written."""
    raw_lines = raw.splitlines()
    magics = {i for i, line in enumerate(raw_lines, 1) if re.match(r"\s*(%|!)", line)}
    findings = [Finding(IPYTHON, label, i, raw_lines[i - 1].strip(), "an IPython magic or shell escape")
                for i in sorted(magics)]
    code = _python(raw)
    # IPython's transformer keeps lines in place except leading blank ones, which it drops: count them back
    shift = len(raw_lines) - len(raw.lstrip("\n\r \t").splitlines()) if raw.strip() else 0
    try:
        scanner.visit(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        # the kernel may still run it (a __future__ flag set in an earlier cell changes the grammar): hold it
        return [Finding(UNREADABLE, label, 0, code.strip()[:120], f"the review cannot read it ({type(exc).__name__})")]
    seen = set()
    for kind, line_no, why in scanner.hits:
        line_no += shift
        text = raw_lines[line_no - 1].strip() if 0 < line_no <= len(raw_lines) else raw.strip()[:120]
        # a course line is the course's own, except in an answer cell: there the line is the student's
        if line_no in magics or (text in ours and kind != REFERENCE) or (kind, line_no, why) in seen:
            continue
        seen.add((kind, line_no, why))
        findings.append(Finding(kind, label, line_no, text, why))
    return findings


def summary(findings: list[Finding], limit: int = 4) -> str:
    """One line for the report: the attack classes and the first quoted lines."""
    kinds = sorted({f.kind for f in findings})
    quoted = "; ".join(f.text() for f in findings[:limit])
    more = f"; and {len(findings) - limit} more" if len(findings) > limit else ""
    return f"touches the testing machinery ({', '.join(kinds)}): {quoted}{more}"

