#!/usr/bin/env bash
# Regenerate the student notebooks in notebooks/ from the instructor source in solutions/ (nbgrader generate_assignment).
# Pass --refresh-outputs after editing a cell tagged nbval-check-output (re-runs the solutions in quick mode first).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m cutmix_course.release "$@"
