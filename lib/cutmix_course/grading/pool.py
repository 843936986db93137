"""Local worker processes: N students graded at a time, a worker that dies costs only the student it was grading.

Each worker is a spawned Python process that runs `task.grade_student` on the tasks it is sent through its own pipe.
The grader waits on the pipes and on the processes' sentinels: a result comes back through the pipe; a sentinel that
fires while a worker is busy means the worker died (killed, out of memory) in the middle of that student. Retry
policy (the same as on Dask, see the README): such a student is graded again from the start, up to `retries` more
times, then recorded as ungraded with the reason. A task that raises (GradingError: grading itself cannot run here)
stops the run.
"""
from __future__ import annotations

import multiprocessing as mp
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait


@dataclass
class WorkerDied:
    """What comes back instead of an outcome when the worker died and no retry was left."""
    reason: str


def _worker_main(conn) -> None:  # runs in the worker process
    from .task import grade_student

    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            conn.send(("ok", grade_student(task)))
        except BaseException as exc:  # noqa: BLE001 (sent back to the grader, which decides)
            import traceback

            conn.send(("error", (type(exc).__name__, str(exc), traceback.format_exc())))


def _death(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        import signal

        try:
            return f"its worker process was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"its worker process was killed by signal {-code}"
    return f"its worker process exited with status {code}"


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="cutmix-grading-worker")
        self.process.start()
        child.close()
        self.job = None  # (key, attempt) being graded

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_local(keys, make_task, workers: int, retries: int, on_start=None):
    """Yield (key, attempts, outcome or WorkerDied) for every key, in completion order.

    `make_task(key)` builds the task just before it is sent (so it can carry what earlier tasks produced);
    `on_start(key, attempt, pid)` is called when a worker takes a task."""
    from .options import GradingError

    ctx = mp.get_context("spawn")
    queue = deque((key, 1) for key in keys)
    pool: list[_Worker] = []
    try:
        while queue or any(w.job for w in pool):
            while queue and len([w for w in pool if w.job]) < workers:
                idle = next((w for w in pool if not w.job), None)
                if idle is None:
                    idle = _Worker(ctx)
                    pool.append(idle)
                key, attempt = queue.popleft()
                idle.job = (key, attempt)
                idle.conn.send(make_task(key))
                if on_start:
                    on_start(key, attempt, idle.process.pid)
            busy = [w for w in pool if w.job]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                key, attempt = worker.job
                message = None
                try:
                    if worker.conn.poll():
                        message = worker.conn.recv()
                except (EOFError, OSError):
                    message = None
                if message is None:
                    if worker.process.is_alive():
                        continue  # the pipe woke us without a message; wait again
                    worker.process.join()
                    reason = _death(worker.process)
                    worker.conn.close()
                    pool.remove(worker)
                    if attempt <= retries:
                        queue.appendleft((key, attempt + 1))
                    else:
                        yield key, attempt, WorkerDied(f"not graded: {reason} ({attempt} attempt(s))")
                    continue
                worker.job = None
                kind, payload = message
                if kind == "error":
                    name, text, trace = payload
                    if name == "GradingError":
                        raise GradingError(text)
                    raise GradingError(f"grading {key!r} failed in its worker: {name}: {text}\n{trace}")
                yield key, attempt, payload
    finally:
        for worker in pool:
            if worker.job:
                worker.process.kill()
            worker.stop()
