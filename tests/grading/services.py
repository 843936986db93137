"""Real services for the grading tests, started on this machine and stopped by the tests: a throw-away PostgreSQL
cluster on a unix socket, a Dask scheduler with worker processes on 127.0.0.1 speaking TLS, and the certificates.

`make test` installs Debian's postgresql (scripts/install-system.sh); Dask comes from requirements.txt.
"""
from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found under /usr/lib/postgresql: `make test` installs it "
                           "(scripts/install-system.sh postgres)")
    return str(found[-1])


class Postgres:
    """initdb + pg_ctl in a temporary folder, listening on a unix socket only. initdb refuses to run as root, so
    as root the server runs as the `postgres` user (who owns the folder)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="cutmix-pg-"))  # not under pytest's 0700 folder: postgres reads it
        self.data, self.log = self.dir / "data", self.dir / "server.log"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            info = pwd.getpwnam("postgres")
            os.chown(self.dir, info.pw_uid, info.pw_gid)
        os.chmod(self.dir, 0o755)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                  f"-k {self.dir} -c listen_addresses='' -c fsync=off", "start")
        self.started = True

    def _run(self, *cmd):
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}")
        return done

    def create_database(self, name: str) -> str:
        self._run(_pg_bin("createdb"), "-h", str(self.dir), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@/{name}?host={self.dir}"

    def stop(self):
        if self.started:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


def make_certificates(folder: Path) -> dict:
    """A CA and one certificate signed by it (for 127.0.0.1), as Dask's TLS docs do it, with openssl."""
    folder.mkdir(parents=True, exist_ok=True)

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cutmix-test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "node.key", "-out", "node.csr")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "node.pem")
    return {"ca": str(folder / "ca.pem"), "cert": str(folder / "node.pem"), "key": str(folder / "node.key")}


class DaskCluster:
    """`dask scheduler` and `dask worker` processes (the real command-line tools), TLS only, on 127.0.0.1. Each worker
    gets its own TMPDIR, so a test can tell which worker holds which student (and kill it)."""

    def __init__(self, folder: Path, certs: dict, workers: int = 2, allowed_failures: int = 1):
        self.folder, self.certs = folder, certs
        folder.mkdir(parents=True, exist_ok=True)
        self.tls = ["--tls-ca-file", certs["ca"], "--tls-cert", certs["cert"], "--tls-key", certs["key"]]
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures)}
        bindir = Path(sys.executable).parent
        scheduler_file = folder / "scheduler.json"
        self.procs = []
        self.scheduler = self._start([str(bindir / "dask"), "scheduler", "--protocol", "tls", "--host", "127.0.0.1",
                                      "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file),
                                      *self.tls], env, folder / "scheduler.log")
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError("dask scheduler did not start: " + (folder / "scheduler.log").read_text())
            time.sleep(0.2)
        time.sleep(0.2)
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.workers, self.tmpdirs = [], []
        for i in range(workers):
            tmp = folder / f"worker{i}-tmp"
            tmp.mkdir()
            self.tmpdirs.append(tmp)
            self.workers.append(self._start([str(bindir / "dask"), "worker", self.address, "--nthreads", "1",
                                             "--no-nanny", "--no-dashboard", "--name", f"w{i}", *self.tls],
                                            {**env, "TMPDIR": str(tmp)}, folder / f"worker{i}.log"))
        self.wait_for_workers(workers)

    def _start(self, cmd, env, log):
        proc = subprocess.Popen(cmd, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def wait_for_workers(self, n: int, timeout: float = 120):
        from distributed import Client
        from distributed.security import Security

        security = Security(tls_ca_file=self.certs["ca"], tls_client_cert=self.certs["cert"],
                            tls_client_key=self.certs["key"], require_encryption=True)
        with Client(self.address, security=security, timeout="60s") as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# A cell for a submission whose grading a test interrupts: it leaves a marker in its working folder (which the host
# sees under the task's temporary folder), then keeps its worker busy long enough to be killed there.
SLOW_WITH_MARKER = '''\
import time
open("KILL-ME", "w").write("now")  # the test kills the worker grading this student when it sees this file
time.sleep(8)
'''


@contextlib.contextmanager
def kill_once_when(find_pid, group: bool = False):
    """While the block runs, call `find_pid()` every 0.2 s; SIGKILL the first pid it returns (its process group with
    `group`), once. Yields the list of killed pids (empty if `find_pid` never found one)."""
    killed, stop = [], threading.Event()

    def watch():
        while not stop.is_set() and not killed:
            pid = find_pid()
            if pid is not None:
                (os.killpg if group else os.kill)(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield killed
    finally:
        stop.set()
        watcher.join()


def local_worker_of(out: Path, student: str):
    """A `find_pid` for kill_once_when: the local worker grading `student` once its marker is there."""
    def find():
        if list((out / "work").glob("*/scratch/*/KILL-ME")):
            lines = (out / "logs" / "workers.log").read_text().splitlines()
            return int([line for line in lines if line.endswith(" " + student)][-1].split()[0])
        return None
    return find
