"""The course's grading policy in one place: what the grader treats as touching the testing machinery.

The static review (grading.tamper) holds a notebook whose code uses any of these; what each exercise may not call is
the exercise's contract (notebook.exercises.FORBIDDEN), which the review reads in the exercise's answer cell, the
tripwire watches around each call of the student's function, and the similarity review reads too. An answer cell
may import only ANSWER_IMPORTS (an allowlist). The mechanisms live in their modules; the names live here.
"""
from __future__ import annotations

HIDING_CALLS = {"exec", "eval", "compile", "__import__", "getattr", "setattr", "delattr", "globals", "vars", "locals",
                "breakpoint"}
HIDING_MODULES = {"importlib", "ctypes", "gc", "inspect", "marshal", "types", "code", "codeop", "runpy", "dis",
                  "pickle", "dill", "cffi"}
IPYTHON_MODULES = {"IPython", "ipykernel", "traitlets", "jupyter_client", "zmq"}
IPYTHON_NAMES = {"get_ipython", "showtraceback", "_showtraceback", "showsyntaxerror", "run_cell", "run_cell_async",
                 "excepthook", "displayhook", "InteractiveShell", "events", "set_custom_exc", "display_pub"}
FRAME_NAMES = {"_getframe", "f_back", "f_globals", "f_locals", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
               "f_code", "co_code", "currentframe"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__doc__", "__file__", "__len__", "__call__", "__repr__", "__str__"}
TRIPWIRE_OBJECTS = {"forbid_reference", "FORBIDDEN", "tripwire", "exercises", "ReferenceUsedError"}
SYSTEM_HOOKS = {"setprofile", "settrace", "getprofile", "gettrace", "meta_path", "path_hooks", "path_importer_cache",
                "addaudithook", "modules"}  # attributes of sys and threading that switch a tripwire off
TRIPWIRE_NAMES = TRIPWIRE_OBJECTS | SYSTEM_HOOKS
# modules whose import is the tripwire's business, and the checks' (a student's code imports neither)
TRIPWIRE_MODULES = ("cutmix_course.grading", "cutmix_course.notebook.tripwire", "cutmix_course.notebook.exercises",
                    "cutmix_course.notebook.hidden", "cutmix_course.notebook.wire")
CHECKS_MODULES = ("cutmix_course.notebook.checks", "cutmix_course.core.validate")

# the only modules an answer cell may import (cells a student added keep the rules above: exploring is allowed)
ANSWER_IMPORTS = {"torch", "math", "numpy", "random", "itertools", "functools", "operator", "collections", "typing",
                  "dataclasses", "warnings", "__future__"}
# reaching torch's operators below its public functions: no exercise needs it, and it bypasses the tripwire
TORCH_INTERNALS = ("torch.ops", "torch._C", "torch._VF", "torch._ops")
