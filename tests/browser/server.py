"""Start a private JupyterLab and a headless Chromium: shared by the browser tests and the bench.

`conftest.py` wraps these in pytest fixtures; `benchmarks/bench_widgets_browser.py` calls them
directly, so the benchmark measures the same Lab, settings and browser the tests drive.

Chromium is Debian's (/usr/bin/chromium, installed by `make test`), not a Playwright
download: `playwright install` cannot reach its CDN here.
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.browser.lab import LabServer

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
    # jupyter-collaboration (a test extra) turns real-time collaboration on for every Lab in
    # its environment; the tests that do not test it run without, as most users do.
    # `start_lab(..., rtc=True)` turns it on. Ignored when the package is not installed.
    "YDocExtension": {"disable_rtc": True},
}


class LabStartError(RuntimeError):
    """JupyterLab or Chromium could not be started; the message says why and what to do."""


def unavailable() -> str | None:
    """Why the browser cannot run here (for a bench to say so and skip), or None."""
    if os.environ.get("NBVIDEO_SKIP_BROWSER", "") not in ("", "0"):
        return "NBVIDEO_SKIP_BROWSER is set"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (make test installs it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def isolated_env(base: Path) -> dict[str, str]:
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


@contextmanager
def start_lab(base: Path, rtc: bool = False) -> Iterator[LabServer]:
    """A JupyterLab server on a free loopback port, with a random token, in dirs under `base`.

    With `rtc`, JupyterLab's real-time collaboration is on (needs jupyter-collaboration):
    browsers that open the same notebook share it live.

    Its root_dir is `base/root`; it is stopped (kernels too) when the block ends. Raises
    LabStartError with the server's log when it exits or does not answer in time.
    """
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    env = isolated_env(base)
    config = {**SERVER_CONFIG, "YDocExtension": {"disable_rtc": not rtc}}
    _write_json(Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json", config)
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
            raise LabStartError(f"JupyterLab exited with code {proc.returncode} before "
                                f"answering.\n--- server log ---\n{server.log()}")
        try:
            r = server.api("GET", "api/status")
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise LabStartError(f"JupyterLab did not answer /api/status within "
                        f"{SERVER_START_TIMEOUT_S}s (last: {last}).\n"
                        f"--- server log ---\n{server.log()}")


def launch_chromium(playwright: Any) -> Any:
    """Debian's headless Chromium through Playwright; LabStartError with the fix if missing."""
    if not Path(CHROMIUM).exists():
        raise LabStartError(
            f"Chromium not found at {CHROMIUM}. The browser tests need Debian's chromium: "
            "run `make test` as root (it runs `apt-get install -y chromium`), or "
            "`apt-get update && apt-get install -y chromium` yourself, or point "
            "NBVIDEO_CHROMIUM at a Chromium binary. NBVIDEO_SKIP_BROWSER=1 skips these tests.")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)


@contextmanager
def new_page(browser: Any, server: LabServer) -> Iterator[Any]:
    """A page in a fresh browser context (own cookies and storage) at a desktop size.

    It starts from the same Lab settings (an earlier page that switched to dark does not
    leave this one dark) and ends with every kernel shut down, so the next page that opens
    the same notebook gets a fresh kernel, not this one's variables and project lock.
    """
    reset_lab_settings(server)
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
        shut_down_sessions(server)


def reset_lab_settings(server: LabServer) -> None:
    for plugin, values in LAB_SETTINGS.items():
        plugin_id = plugin.replace("/", ":").replace(":", "/", 1)  # "@scope/pkg:plugin"
        r = server.api("PUT", f"lab/api/settings/{plugin_id}", {"raw": json.dumps(values)})
        if r.status_code != 204:
            raise LabStartError(f"could not reset {plugin_id}: {r.status_code} {r.text}")


def shut_down_sessions(server: LabServer, path: str | None = None) -> None:
    """Shut down the kernels of every notebook session, or only of the notebook at `path`."""
    for session in server.api("GET", "api/sessions").json():
        if path is None or session.get("path") == path:
            server.api("DELETE", f"api/sessions/{session['id']}")
