"""Per-test kernel times, read back from the notebooks a pytest run left behind (run it with --basetemp=DIR).

nbclient records when each cell started and finished (cell.metadata.execution); this prints, for each test folder
under DIR, the slowest cell and the slowest notebook, which is what the kernel timeouts of the tests must exceed:

    python scripts/cell_times.py /tmp/loaded
"""
import json
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path


def seconds(cell) -> float | None:
    ex = cell.get("metadata", {}).get("execution", {})
    start, end = ex.get("iopub.execute_input") or ex.get("iopub.status.busy"), ex.get("shell.execute_reply")
    if not (start and end):
        return None
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) -
            datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def stopped(cell) -> bool:
    text = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                   for o in cell.get("outputs", []))
    return any(word in text.lower() for word in ("timed out", "timeout", "time budget", "killed"))


def main(base: Path) -> None:
    slowest_cell, slowest_nb = defaultdict(lambda: (0.0, "")), defaultdict(lambda: (0.0, ""))
    for path in base.rglob("*.ipynb"):
        if ".ipynb_checkpoints" in path.parts:
            continue
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (ValueError, UnicodeDecodeError):
            continue
        # a cell that ended in an error or was stopped is an attack or a deliberate fault, not work to wait for
        times = [(t, c) for c in cells if c.get("cell_type") == "code" and (t := seconds(c)) is not None
                 and not any(o.get("output_type") == "error" for o in c.get("outputs", []))
                 and not stopped(c)]
        if not times:
            continue
        test = path.relative_to(base).parts[0]
        t, cell = max(times, key=lambda x: x[0])
        if t > slowest_cell[test][0]:
            slowest_cell[test] = (t, f"{path.name}: {''.join(cell.get('source', ''))[:50]!r}")
        total = sum(t for t, _ in times)
        if total > slowest_nb[test][0]:
            slowest_nb[test] = (total, path.name)
    for test in sorted(slowest_cell):
        print(f"{test:<45} slowest cell {slowest_cell[test][0]:7.1f} s ({slowest_cell[test][1]})   "
              f"slowest notebook {slowest_nb[test][0]:7.1f} s ({slowest_nb[test][1]})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
