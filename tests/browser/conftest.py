"""Fixtures for the browser tests: a temporary copy of the course served by a real `jupyter lab`,
and Debian's Chromium driven by Playwright.

Chromium is not optional: if /usr/bin/chromium is missing the tests FAIL with the command that installs
it (scripts/install-system.sh browser); they never skip.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import kernel_timeouts as kt

REPO = Path(__file__).resolve().parents[2]
if str(Path(__file__).parent) not in sys.path:  # the tests import jupyterlab_page, also under --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).parent))
OUTPUT_DIR = REPO / "test-output" / "browser"  # gitignored (/test-output/)
CHROMIUM = Path(os.environ.get("CUTMIX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What a student gets: the release, the instructor source (formgrader), the config and the quiz data.
COURSE_PARTS = ["notebooks", "solutions", "quizzes", "nbgrader_config.py"]
SERVER_START_TIMEOUT_S = 120
# JupyterLab user settings for the test server: no news/update requests to the internet, no toasts.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass
class Lab:
    """A running JupyterLab server: where it serves, how to log in, and where its files live."""

    base_url: str  # e.g. http://127.0.0.1:8891 (no trailing slash)
    token: str
    root: Path  # the temporary course folder the server serves
    process: subprocess.Popen
    log_path: Path
    log_file: object = None  # the open handle the server writes its log to

    def url(self, path: str = "", **query: str) -> str:
        query = {**query, "token": self.token}
        qs = "&".join(f"{k}={v}" if v != "" else k for k, v in query.items())
        return f"{self.base_url}/{path.lstrip('/')}?{qs}"

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base_url}/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def shutdown_kernels(self) -> None:
        """Shut down every notebook session and kernel (between tests, to free the CPU)."""
        for session in self.api("GET", "api/sessions"):
            self.api("DELETE", f"api/sessions/{session['id']}")
        for kernel in self.api("GET", "api/kernels"):
            self.api("DELETE", f"api/kernels/{kernel['id']}")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path) -> None:
    """Copy the course parts that exist into dest (a missing part shows up in the test that needs it)."""
    for part in COURSE_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        elif src.is_file():
            shutil.copy2(src, dest / part)


def _wait_ready(lab: Lab) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {lab.process.returncode}:\n{lab.log_tail()}")
        try:
            lab.api("GET", "api/status", timeout=5)
            # the lab page itself must be served too (extension loaded), not only the REST API
            with urllib.request.urlopen(lab.url("lab"), timeout=10) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    raise RuntimeError(f"jupyter lab not ready after {SERVER_START_TIMEOUT_S}s ({last}):\n{lab.log_tail()}")


def _stop(lab: Lab) -> list[str]:
    """Stop the server the way a user would (REST shutdown → it stops its kernels), escalating only if it
    hangs. Returns descriptions of child processes (kernels) that outlived it, after killing them."""
    try:
        children = psutil.Process(lab.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:  # it already exited (e.g. failed to start)
        children = []
    try:
        lab.api("POST", "api/shutdown", timeout=10)
    except (urllib.error.URLError, ConnectionError, OSError):
        pass
    for sig, wait in ((None, 30), (signal.SIGINT, 10), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if sig is not None and lab.process.poll() is None:
            lab.process.send_signal(sig)
        try:
            lab.process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if lab.log_file is not None:
        lab.log_file.close()
    _, alive = psutil.wait_procs(children, timeout=10)
    orphans = []
    for proc in alive:
        try:
            orphans.append(f"pid {proc.pid}: {' '.join(proc.cmdline())}")
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    return orphans


def start_lab(root: Path, log_path: Path) -> Lab:
    """Start `jupyter lab` serving root (cwd = root, so nbgrader finds root/nbgrader_config.py)."""
    token = secrets.token_hex(24)
    port = _free_port()
    home = root.parent / "jupyter-home"
    settings_dir = home / "lab-settings"
    for name, value in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {
        **os.environ,
        # isolated from the user's ~/.jupyter and any running server; extensions still come from sys.prefix
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "CUTMIX_QUICK": "1",  # kernels inherit it: notebooks run in quick mode
        "PYTHONUNBUFFERED": "1",
        # as in an activated venv: nbgrader's Gradebook runs the `alembic` executable from PATH when it
        # creates gradebook.db; without the venv's bin/ on PATH the formgrader API answers 500
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--allow-root",  # CI containers run as root; harmless otherwise
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_remote_access=False",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",  # no PyPI queries from the extension manager
        "--MappingKernelManager.cull_idle_timeout=0",
    ]
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, proc, log_path, log)
    try:
        _wait_ready(lab)
    except BaseException:
        _stop(lab)
        raise
    return lab


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium. "
            "Install it with `sudo scripts/install-system.sh browser` (apt-get install -y chromium chromium-driver).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def course_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser-course") / "course"
    root.mkdir()
    copy_course(root)
    return root


@pytest.fixture(scope="session")
def lab(course_root, output_dir) -> Lab:
    server = start_lab(course_root, output_dir / "jupyter-lab.log")
    yield server
    orphans = _stop(server)
    assert not orphans, "kernel processes outlived the jupyter server:\n" + "\n".join(orphans)


@pytest.fixture(scope="session")
def browser_context(chromium, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(kt.BROWSER_WAIT_MS)
        yield context
        context.close()


def console_line(message) -> str:
    """'type: text', with the address a failed load was for (Chromium's text does not name it)."""
    url = (message.location or {}).get("url", "")
    where = f" ({url})" if message.text.startswith("Failed to load resource") and url else ""
    return f"{message.type}: {message.text}{where}"


@pytest.fixture
def page(browser_context, lab, request, output_dir):
    """A fresh tab; its console errors are written next to the screenshots. Kernels are shut down after."""
    name = request.node.name.replace("/", "_")
    for stale in (output_dir / f"{name}-console.log", output_dir / f"{name}-FAILED.png"):
        stale.unlink(missing_ok=True)
    pg = browser_context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(console_line(m)) if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    pg.console_log = console  # read by jupyterlab_page.browser_errors
    yield pg
    if console:
        (output_dir / f"{name}-console.log").write_text("\n".join(console) + "\n")
    if getattr(request.node, "rep_call_failed", False):
        pg.screenshot(path=str(output_dir / f"{name}-FAILED.png"), full_page=True)
    pg.close()
    lab.shutdown_kernels()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call_failed = rep.failed
