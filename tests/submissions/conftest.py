# The example submissions are data for the grading tests (one of them is deliberately not valid JSON): never let
# pytest or nbval collect them as tests.
collect_ignore_glob = ["*.ipynb", "**/*.ipynb"]
