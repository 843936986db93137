"""Local worker processes: N students graded at a time, a worker that dies costs only the student it was grading.

Each worker is a spawned Python process that runs `task.grade_student` on the tasks it is sent through its own pipe.
The grader waits on the pipes and on the processes' sentinels: a result comes back through the pipe; a sentinel that
fires while a worker is busy means the worker died (killed, out of memory) in the middle of that student. Retry
policy (the same as on Dask, see docs/grading.md): such a student is graded again from the start, up to `retries` more
times, then recorded as ungraded with the reason. A task that raises (GradingError: grading itself cannot run here)
stops the run.
"""
from __future__ import annotations

import dataclasses
import functools
import multiprocessing as mp
import uuid
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait

from .options import GradingError


@dataclass
class WorkerDied:
    """What comes back instead of an outcome when the worker died and no retry was left."""
    reason: str


# ------------------------------------------------------------------------------------------------ both
def _not_graded(reason: str) -> WorkerDied:
    """What a student whose worker died gets when no retry is left: `reason` says how, on which attempt."""
    return WorkerDied(f"not graded: {reason}")


def _task_failed(key, where: str, name: str, text: str, trace: str | None = None) -> GradingError:
    """The error that stops the run when the task of `key` raised `name`: `text` `where` (in its worker, on the
    cluster) for another reason than a GradingError; with the task's traceback when there is one."""
    return GradingError(f"grading {key!r} failed {where}: {name}: {text}" + ("" if trace is None else f"\n{trace}"))


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

    def reap(self) -> str:
        """Join the dead worker process and close its pipe; returns how it died."""
        self.process.join()
        reason = _death(self.process)
        self.conn.close()
        return reason

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

    new_worker = functools.partial(_Worker, mp.get_context("spawn"), max(1, (os.cpu_count() or 1) // workers))
    queue = deque((key, 1) for key in keys)
    pool: list[_Worker] = []
    try:
        while queue or any(w.job for w in pool):
            _hand_out(queue, pool, workers, new_worker, make_task, on_start)
            busy = [w for w in pool if w.job]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                finished = _collect(worker, pool, queue, retries)
                if finished is not None:
                    yield finished
    finally:
        for worker in pool:
            if worker.job:
                worker.process.kill()
            worker.stop()


def _hand_out(queue: deque, pool: list, workers: int, new_worker, make_task, on_start) -> None:
    """Send the queued (key, attempt)s to idle workers, starting new ones into `pool`, until `workers` are busy."""
    while queue and len([w for w in pool if w.job]) < workers:
        idle = next((w for w in pool if not w.job), None)
        if idle is None:
            idle = new_worker()
            pool.append(idle)
        key, attempt = queue.popleft()
        idle.job = (key, attempt)
        idle.conn.send(make_task(key))
        if on_start:
            on_start(key, attempt, idle.process.pid)


def _collect(worker: _Worker, pool: list, queue: deque, retries: int):
    """What the busy `worker`, woken, has for the run: (key, attempt, outcome or WorkerDied), or None when there is
    nothing to yield (no message yet, or it died and its key is queued again). A dead worker leaves `pool`; a task
    that raised raises GradingError."""
    key, attempt = worker.job
    message = _receive(worker.conn)
    if message is None:
        if worker.process.is_alive():
            return None  # the pipe woke us without a message; wait again
        reason = worker.reap()
        pool.remove(worker)
        if attempt <= retries:
            queue.appendleft((key, attempt + 1))
            return None
        return key, attempt, _not_graded(f"{reason} ({attempt} attempt(s))")
    worker.job = None
    kind, payload = message
    if kind == "error":
        name, text, trace = payload
        if name == "GradingError":
            raise GradingError(text)
        raise _task_failed(key, "in its worker", name, text, trace)
    return key, attempt, payload


def _receive(conn):
    """The message waiting on `conn`, or None when there is none or the pipe broke (its worker died)."""
    try:
        if conn.poll():
            return conn.recv()
    except (EOFError, OSError):
        pass
    return None


# ------------------------------------------------------------------------------------------------ Dask
def _same(value):
    return value


def _grade_on_worker(task, course):
    """Runs on a Dask worker: the course bundle travels once per worker, the task per student."""
    from .task import grade_student

    return grade_student(dataclasses.replace(task, course=course))


def run_dask(keys, make_task, options, on_start=None):
    """Yield (key, attempts, outcome or WorkerDied) for every key, graded on the Dask cluster at options.scheduler.

    The scheduler, not this process, re-runs a task whose worker died: up to its `allowed-failures` setting
    (distributed.scheduler.allowed-failures; start the scheduler with it equal to --retries for the local policy),
    then the future fails with KilledWorker and the student is recorded as not graded. A result arrives once per
    student whatever happened to the workers, so nothing is graded twice."""
    client = _connect(options)
    try:
        keys = list(keys)
        if not keys:
            return
        yield from _grade_on_cluster(client, keys, make_task, on_start)
    finally:
        client.close()


def _connect(options):
    """A Dask client of the scheduler at options.scheduler, over TLS with the options' certificates; raises
    GradingError when the scheduler cannot be reached."""
    from distributed import Client
    from distributed.security import Security

    security = Security(tls_ca_file=options.tls_ca, tls_client_cert=options.tls_cert,
                        tls_client_key=options.tls_key, require_encryption=True)
    try:
        return Client(options.scheduler, security=security, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise GradingError(f"--scheduler: cannot reach the Dask scheduler at {options.scheduler}: {exc}") from None


def _grade_on_cluster(client, keys: list, make_task, on_start):
    """Yield (key, 1, outcome or WorkerDied) for every one of `keys` (at least one) as the cluster finishes it,
    sending tasks so that every worker thread is busy and a few are queued, not the whole class."""
    from distributed import as_completed

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
        yield key, 1, _cluster_outcome(key, future)
        nxt = next(pending, None)
        if nxt is not None:
            submit(nxt)


def _cluster_outcome(key, future):
    """The outcome of the finished `future` of `key`, or WorkerDied when its workers kept dying (KilledWorker);
    raises GradingError when its task raised. The future is released either way."""
    try:
        return future.result()
    except GradingError:
        raise
    except Exception as exc:  # noqa: BLE001 - KilledWorker: its workers died allowed-failures + 1 times
        if type(exc).__name__ != "KilledWorker":
            raise _task_failed(key, "on the cluster", type(exc).__name__, str(exc)) from None
        return _not_graded(f"its Dask worker died while grading it ({exc})")
    finally:
        future.release()
