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


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the grader dies (SIGKILL of the grader leaves no orphans grading)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(conn, threads: int) -> None:  # runs in the worker process
    import os

    from .task import grade_student

    _die_with_parent()
    # N workers share the cores: each kernel's torch gets its share of threads instead of all of them
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))

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
    def __init__(self, ctx, threads: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, threads), daemon=True,
                                   name="cutmix-grading-worker")
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
    import os

    from .options import GradingError

    ctx = mp.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    queue = deque((key, 1) for key in keys)
    pool: list[_Worker] = []
    try:
        while queue or any(w.job for w in pool):
            while queue and len([w for w in pool if w.job]) < workers:
                idle = next((w for w in pool if not w.job), None)
                if idle is None:
                    idle = _Worker(ctx, threads)
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


# ------------------------------------------------------------------------------------------------ Dask
def _same(value):
    return value


def _grade_on_worker(task, course):
    """Runs on a Dask worker: the course bundle travels once per worker, the task per student."""
    import dataclasses

    from .task import grade_student

    return grade_student(dataclasses.replace(task, course=course))


def run_dask(keys, make_task, options, on_start=None):
    """Yield (key, attempts, outcome or WorkerDied) for every key, graded on the Dask cluster at options.scheduler.

    The scheduler, not this process, re-runs a task whose worker died: up to its `allowed-failures` setting
    (distributed.scheduler.allowed-failures; start the scheduler with it equal to --retries for the local policy),
    then the future fails with KilledWorker and the student is recorded as not graded. A result arrives once per
    student whatever happened to the workers, so nothing is graded twice."""
    import dataclasses
    import uuid

    from distributed import Client, as_completed
    from distributed.security import Security

    from .options import GradingError

    security = Security(tls_ca_file=options.tls_ca, tls_client_cert=options.tls_cert,
                        tls_client_key=options.tls_key, require_encryption=True)
    try:
        client = Client(options.scheduler, security=security, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise GradingError(f"--scheduler: cannot reach the Dask scheduler at {options.scheduler}: {exc}") from None
    try:
        keys = list(keys)
        if not keys:
            return
        first = make_task(keys[0])
        # the course bundle travels once per worker, as the result of a task rather than scattered data: a task's
        # result lost with its worker is recomputed, scattered data would be lost for good
        course = client.submit(_same, first.course, key=f"course-{uuid.uuid4().hex}", pure=False)
        threads = max(1, sum(client.nthreads().values()))
        pending, futures = iter(keys[1:]), as_completed()  # keys[0] is `first`
        owner = {}

        def submit(key, task=None):
            task = dataclasses.replace(task or make_task(key), course=None, work_parent=None)
            future = client.submit(_grade_on_worker, task, course, key=f"grade-{uuid.uuid4().hex}", pure=False,
                                   retries=0)
            owner[future.key] = key
            futures.add(future)
            if on_start:
                on_start(key, 1, "dask")

        submit(keys[0], first)
        while futures.count() < 2 * threads:  # every worker thread busy and a few queued, not the whole class
            key = next(pending, None)
            if key is None:
                break
            submit(key)
        for future in futures:
            key = owner.pop(future.key)
            try:
                outcome = future.result()
            except GradingError:
                raise
            except Exception as exc:  # KilledWorker: its workers died allowed-failures + 1 times
                if type(exc).__name__ != "KilledWorker":
                    raise GradingError(f"grading {key!r} failed on the cluster: {type(exc).__name__}: {exc}") from None
                outcome = WorkerDied(f"not graded: its Dask worker died while grading it ({exc})")
            finally:
                future.release()
            yield key, 1, outcome
            nxt = next(pending, None)
            if nxt is not None:
                submit(nxt)
    finally:
        client.close()
