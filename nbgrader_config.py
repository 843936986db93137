"""nbgrader configuration of the course (read by `nbgrader ...`, the formgrader and `python -m cutmix_course grade`).

The instructor source is solutions/<assignment>/, the student release notebooks/<assignment>/ (both committed).
The release preprocessors are nbgrader's own with two course rules added (see cutmix_course.tools.release).
"""
import os

from cutmix_course.tools.release import RELEASE_PREPROCESSORS

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.GenerateAssignment.preprocessors = RELEASE_PREPROCESSORS
# notebook 4 saves its trained models in trained/ beside the notebooks (cutmix_course.notebook.saved_models):
# never part of a release
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "trained"]
