"""Fixtures for tests in a real JupyterLab driven by headless Chromium.

One JupyterLab server and one Chromium for all the browser tests (starting them is the slow
part); a fresh browser context per test, so cookies, storage and open tabs never leak.

Both are package-scoped, not session-scoped, on purpose: while Playwright's sync API is
open, the test process's main thread has a running asyncio loop, and every asyncio.run()
in it fails ("cannot be called from a running event loop"). Package scope closes Playwright
when the last browser test is done, so the rest of the suite runs as usual. Inside a
browser test, run nbvideo code that uses asyncio through `lab.off_loop(...)`.

Chromium is Debian's (/usr/bin/chromium, installed by `make test`), not a Playwright
download: `playwright install` cannot reach its CDN here. A missing browser fails the
tests with a message saying how to get it; NBVIDEO_SKIP_BROWSER=1 skips them on purpose.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser.lab import LabServer, screenshot

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("NBVIDEO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 900}
SERVER_START_TIMEOUT_S = 180  # a bound on a hang, not a speed check
SKIP = os.environ.get("NBVIDEO_SKIP_BROWSER", "") not in ("", "0")

# JupyterLab user settings written before the server starts: nothing may pop up over a test,
# and every cell must be in the DOM so a locator can find an output that is scrolled away.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
    "@jupyterlab/apputils-extension/themes": {
        "theme": "JupyterLab Light", "adaptive-theme": False,
    },
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}

# Server config: expose window.jupyterapp for lab.py, no news feed or update check (no
# network calls, no toasts), an extension manager that never asks PyPI.
SERVER_CONFIG = {
    "LabApp": {
        "expose_app_in_browser": True,
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "extension_manager": "readonly",
    },
    "ServerApp": {"port_retries": 0, "terminals_enabled": False},
    "LanguageServerManager": {"autodetect": False},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/browser as `browser`, and skip them all when asked to."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
            if SKIP:
                item.add_marker(pytest.mark.skip(reason="NBVIDEO_SKIP_BROWSER is set"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """On a failed browser test, keep a screenshot and show the end of the server's log."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        page = funcargs.get("page")
        if page is not None:
            try:
                path = screenshot(page, f"FAILED-{item.name}")
                report.sections.append(("browser screenshot", str(path)))
            except Exception as exc:  # the page may be gone; the report matters more
                report.sections.append(("browser screenshot", f"not taken: {exc}"))
        server = funcargs.get("jupyter_server")
        if server is not None:
            report.sections.append(("jupyter server log (tail)", server.log(8_000)))
    return report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _isolated_env(base: Path) -> dict[str, str]:
    """An environment whose Jupyter config, data, runtime and Lab settings are all under `base`.

    The user's ~/.jupyter, ~/.ipython and Lab settings must not change what a test sees. The
    venv's own share/jupyter (kernelspec python3, the anywidget and ipywidgets lab
    extensions) stays on the path: jupyter_core always searches sys.prefix.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "JPY_", "IPYTHON"))}
    dirs = {
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": base / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": base / "lab-workspaces",
        "IPYTHONDIR": base / "ipython",
    }
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[key] = str(path)
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: SIGTERM lets it shut its kernels down; SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # The server runs in its own process group (start_new_session): take its kernels too.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture(scope="package")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A JupyterLab server on a free loopback port, with a random token, in throwaway dirs."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    env = _isolated_env(base)
    _write_json(Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json", SERVER_CONFIG)
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"])
    for plugin, values in LAB_SETTINGS.items():
        _write_json(settings / f"{plugin}.jupyterlab-settings", values)

    port, token = _free_port(), secrets.token_hex(24)
    log_path = base / "server.log"
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(base_url=f"http://127.0.0.1:{port}", token=token, root=root,
                       log_path=log_path, process=proc)
    try:
        _wait_until_up(server, proc)
        yield server
    finally:
        _stop(proc)


def _wait_until_up(server: LabServer, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {proc.returncode} before answering.\n"
                        f"--- server log ---\n{server.log()}", pytrace=False)
        try:
            r = server.api("GET", "api/status")
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    _stop(proc)
    pytest.fail(f"JupyterLab did not answer /api/status within {SERVER_START_TIMEOUT_S}s "
                f"(last: {last}).\n--- server log ---\n{server.log()}", pytrace=False)


@pytest.fixture(scope="package")
def browser():
    """Debian's headless Chromium through Playwright; fails with the fix when it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. The browser tests need Debian's chromium: "
            "run `make test` as root (it runs `apt-get install -y chromium`), or "
            "`apt-get update && apt-get install -y chromium` yourself, or point "
            "NBVIDEO_CHROMIUM at a Chromium binary. NBVIDEO_SKIP_BROWSER=1 skips these tests.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, jupyter_server: LabServer) -> Iterator:
    """A page in a fresh browser context (own cookies and storage) at a desktop size.

    Each test starts from the same Lab settings (a test that switched to dark does not leave
    the next one dark) and ends with every kernel shut down, so the next test that opens the
    same notebook gets a fresh kernel, not the last test's variables and project lock.
    """
    _reset_lab_settings(jupyter_server)
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    pg = context.new_page()
    # Leaving a notebook with unsaved changes raises "beforeunload"; accept it so a test can
    # open another notebook in the same page. Any other dialog is dismissed, as by default.
    pg.on("dialog", lambda d: d.accept() if d.type == "beforeunload" else d.dismiss())
    try:
        yield pg
    finally:
        context.close()
        _shut_down_sessions(jupyter_server)


def _reset_lab_settings(server: LabServer) -> None:
    for plugin, values in LAB_SETTINGS.items():
        plugin_id = plugin.replace("/", ":").replace(":", "/", 1)  # "@scope/pkg:plugin"
        r = server.api("PUT", f"lab/api/settings/{plugin_id}", {"raw": json.dumps(values)})
        assert r.status_code == 204, f"could not reset {plugin_id}: {r.status_code} {r.text}"


def _shut_down_sessions(server: LabServer) -> None:
    for session in server.api("GET", "api/sessions").json():
        server.api("DELETE", f"api/sessions/{session['id']}")
