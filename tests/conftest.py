"""Shared by every test folder: pytest puts this folder on sys.path for it, so tests import `kernel_timeouts`.

Every notebook a test runs (nbval, nbclient, the grader's kernels: all inherit this process's environment) uses the
embedded data set whatever this machine holds in ~/.cache/cutmix_course, and saves notebook 4's models in a folder of
this session, never beside the instructor's notebooks. Tests of the photo path set CUTMIX_DATASET themselves.
"""
import os
import tempfile

os.environ["CUTMIX_DATASET"] = "synthetic"
os.environ["CUTMIX_TRAINED"] = tempfile.mkdtemp(prefix="cutmix-trained-")
