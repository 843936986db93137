"""Cutout & CutMix course module, in four rooms laid out by who imports them; imports point down only.

    core/       the ML library: data sets, Cutout/CutMix and the soft-target loss, the CNN, training, occlusion.
                torch and torchvision only: no environment variables, no notebook formats, no printing.
    notebook/   the student's side: what a student's kernel imports (set-up, feedback checks, widgets, plots, the
                quiz, the trace tables, the student's own functions, saved models, the tripwire) and the kit's two
                commands (check, photos); every environment variable the course reads is defined here
                (notebook.environment).
    grading/    the instructor's grader (intake -> task -> record -> export) and the course's grading policy
                (grading.policy).
    tools/      the instructor's commands: release, student kit, benchmarks, the trace report.

    tools, grading -> notebook -> core   (tests/test_rooms.py reads the imports and fails on one pointing up)

Why these four: the student kit ships `core` and `notebook` alone (the grader's rules never reach a student, and a
student's kernel cannot import what is not there); the grader runs the notebook room's code in its kernels, so it
sits above it; the tools build releases and kits from everything. `python -m cutmix_course` lists the commands.
"""
__version__ = "0.1.0"
