"""Drive a real JupyterLab from Playwright: open a notebook, run it, switch themes, take pictures.

The widget tests use these helpers so that each test reads as what a person does
("open the quickstart, run it, switch to dark") and the fiddly waiting lives in one place.

Everything here talks to JupyterLab through `window.jupyterapp` (the server is started with
`LabApp.expose_app_in_browser`, see server.py) and its command registry, not through menus
or the command palette: command ids are a stable API, menu layouts and labels are not.
Waits are generous and never asserted on: a slow CI machine makes a test slower, not red.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, urlencode

import httpx
from playwright.sync_api import Locator, Page

T = TypeVar("T")

# Generous waits (milliseconds, as Playwright counts). They bound a hang; they are not speed checks.
LOAD_TIMEOUT_MS = 120_000
KERNEL_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 480_000  # under pytest-timeout's 600 s, so this clearer error comes first

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

ARTIFACTS = Path(os.environ.get("NBVIDEO_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")


@dataclass
class LabServer:
    """A running JupyterLab server that only this test session uses.

    `root` is the server's root_dir: notebooks are copied there and relative paths inside
    them (like `projects/trail-shoe`) resolve there, because the kernel starts in the
    notebook's folder.
    """

    base_url: str
    token: str
    root: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, path: str = "", **query: str) -> str:
        """An address on this server that carries the token, so a fresh browser context logs in."""
        params = urlencode({**query, "token": self.token})
        return f"{self.base_url}/{path.lstrip('/')}?{params}"

    def api(self, method: str, path: str, json_body: object | None = None) -> httpx.Response:
        """Call the server's REST API with the token (token-authenticated calls need no XSRF)."""
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            return client.request(method, "/" + path.lstrip("/"), json=json_body,
                                  headers={"Authorization": f"token {self.token}"})

    def log(self, tail_chars: int = 20_000) -> str:
        """The end of the server's log: what to read first when a browser test fails."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:  # pragma: no cover - only when the log was never created
            return f"(no server log at {self.log_path}: {exc})"
        return text[-tail_chars:]


def off_loop(fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """Call `fn` in a worker thread and return its result (or raise its exception).

    Playwright's sync API keeps an asyncio loop running in the test's main thread, so code
    that calls asyncio.run() (the planner, clip jobs' wait()) fails there. Preparing a
    project inside a browser test looks like `lab.off_loop(nv.Project.open, path, ...)`.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="off-loop") as pool:
        return pool.submit(fn, *args, **kwargs).result()


def copy_notebook(server: LabServer, notebook: str | Path, dest: str | None = None) -> str:
    """Put `notebook` into the server root and return its path relative to that root.

    A path that already lies inside the root is used where it is. A notebook from the repo
    (e.g. notebooks/01-quickstart.ipynb) is copied, so running it writes its projects into
    the throwaway root and never into the checkout.
    """
    path = Path(notebook)
    if not path.is_absolute() and (server.root / path).exists() and dest is None:
        rel = path.as_posix()
    else:
        path = path.resolve()
        try:
            rel = path.relative_to(server.root.resolve()).as_posix()
        except ValueError:
            rel = dest or path.name
            target = server.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    _require_kernelspec(server.root / rel)
    return rel


def _require_kernelspec(path: Path) -> None:
    """Refuse a notebook without a kernelspec: Lab would stop at its "Select Kernel" dialog."""
    meta = json.loads(path.read_text()).get("metadata", {})
    if not meta.get("kernelspec", {}).get("name"):
        raise ValueError(f"{path} has no metadata.kernelspec.name; JupyterLab would ask which "
                         "kernel to use and the test would hang on that dialog. Add "
                         '"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",'
                         ' "language": "python"} to its metadata.')


def open_notebook(page: Page, server: LabServer, notebook: str | Path,
                  dest: str | None = None) -> str:
    """Open `notebook` in JupyterLab and wait until its kernel is idle; return its server path.

    `notebook` is a path inside the server root, or any notebook file (copied into the root
    first, under `dest` or its own name). The page loads `/lab/tree/<path>?reset` so a layout
    left by an earlier test never decides what is open or focused.
    """
    rel = copy_notebook(server, notebook, dest)
    page.goto(server.url(f"lab/tree/{quote(rel)}", reset=""), timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=LOAD_TIMEOUT_MS)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    page.wait_for_function(
        """(path) => {
            const w = window.jupyterapp.shell.currentWidget;
            return !!(w && w.context && w.context.path === path && w.content
                      && w.content.widgets && w.content.widgets.length > 0);
        }""",
        arg=rel,
        timeout=LOAD_TIMEOUT_MS,
    )
    wait_no_splash(page)
    wait_idle(page)
    return rel


def wait_no_splash(page: Page, timeout_ms: int = LOAD_TIMEOUT_MS) -> None:
    """Wait until JupyterLab's splash screen is gone.

    Lab covers the whole page with it while it starts and again while it swaps theme CSS,
    so a screenshot or a click taken too early hits the splash instead of the notebook.
    """
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=timeout_ms)


def wait_idle(page: Page, timeout_ms: int = KERNEL_TIMEOUT_MS) -> None:
    """Wait until the current notebook's kernel is started and idle.

    Reads the session's kernel status, which is what the toolbar's circle shows, so a test
    waits for the same thing a person would.
    """
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const ctx = w && w.sessionContext;
            return !!(ctx && ctx.isReady && ctx.session && ctx.session.kernel
                      && ctx.session.kernel.status === 'idle');
        }""",
        timeout=timeout_ms,
    )


def run_all(page: Page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Run every cell of the current notebook and wait until each code cell has run.

    Uses the `notebook:run-all-cells` command and waits for the promise it returns, which
    settles when the kernel has answered every cell. Raises AssertionError naming the first
    code cells left without an execution count (a cell that raised stops the run), with the
    error text the notebook shows, so a failure says what broke instead of timing out.
    """
    page.evaluate(
        """() => {
            window.__nbvRunAll = undefined;
            window.jupyterapp.commands.execute('notebook:run-all-cells').then(
                ok => { window.__nbvRunAll = {ok: ok !== false}; },
                err => { window.__nbvRunAll = {ok: false, error: String(err)}; });
        }"""
    )
    page.wait_for_function("() => window.__nbvRunAll !== undefined", timeout=timeout_ms)
    wait_idle(page)
    not_run = page.evaluate(
        """() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            const out = [];
            for (let i = 0; i < cells.length; i++) {
                const c = cells.get(i);
                if (c.type === 'code' && c.sharedModel.getSource().trim() !== ''
                    && c.executionCount === null) out.push(i);
            }
            return out;
        }"""
    )
    if not_run:
        errors = "\n---\n".join(error_outputs(page)) or "(no error output shown)"
        raise AssertionError(f"cells {not_run} did not run (an earlier cell failed?). "
                             f"Error outputs:\n{errors}")


def run_cell(page: Page, index: int, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Run one cell (index counts every cell, markdown too, as in the .ipynb) and wait for it."""
    start_cell(page, index)
    page.wait_for_function("() => window.__nbvRunCell !== undefined", timeout=timeout_ms)
    wait_idle(page)


def start_cell(page: Page, index: int) -> None:
    """Start running one cell and return at once: the kernel is busy with it meanwhile (its
    widgets' messages wait in line), as when a person edits while a long cell runs."""
    page.evaluate(
        """(index) => {
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = index;
            panel.content.deselectAll();
            window.__nbvRunCell = undefined;
            window.jupyterapp.commands.execute('notebook:run-cell').then(
                () => { window.__nbvRunCell = true; }, () => { window.__nbvRunCell = false; });
        }""",
        index,
    )


def cell_index(page: Page, contains: str) -> int:
    """Index of the first cell whose source contains `contains` (every cell counts).

    Lets a test name the cell it means ("p.storyboard()") instead of a number that shifts
    when someone adds a markdown cell to the template.
    """
    index = page.evaluate(
        """(text) => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            for (let i = 0; i < cells.length; i++) {
                if (cells.get(i).sharedModel.getSource().includes(text)) return i;
            }
            return -1;
        }""",
        contains,
    )
    if index < 0:
        raise LookupError(f"no cell in the open notebook contains {contains!r}")
    return index


def append_cell(page: Page, source: str) -> int:
    """Add a code cell holding `source` at the end of the open notebook; return its index.

    A test that must show something again (a view in a new kernel) adds its own cell
    instead of re-running a template cell that would also redo that cell's edits.
    """
    return page.evaluate(
        """(source) => {
            const model = window.jupyterapp.shell.currentWidget.content.model;
            const index = model.cells.length;
            model.sharedModel.insertCell(index, {cell_type: 'code', source});
            return index;
        }""",
        source,
    )


def cell(page: Page, index: int) -> Locator:
    """The cell at `index`, counting every cell (markdown too) as the .ipynb file does."""
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index)


def cell_output(page: Page, index: int) -> Locator:
    """The output area of the cell at `index` (every cell counts): look for widgets inside it."""
    return cell(page, index).locator(".jp-OutputArea").first


def error_outputs(page: Page) -> list[str]:
    """Every error output of the open notebook as "cell N: Name: value" (empty when none raised).

    Read from the notebook model, since in the DOM a traceback and a warning on stderr are
    rendered alike.
    """
    return page.evaluate(
        """() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
            const out = [];
            for (let i = 0; i < cells.length; i++) {
                const c = cells.get(i);
                if (c.type !== 'code') continue;
                for (let j = 0; j < c.outputs.length; j++) {
                    const o = c.outputs.get(j).toJSON();
                    if (o.output_type === 'error') out.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
                }
            }
            return out;
        }"""
    )


def theme(page: Page) -> dict[str, str | None]:
    """The theme the page shows now, read from the attributes JupyterLab sets on <body>."""
    return page.evaluate(
        """() => ({name: document.body.dataset.jpThemeName || null,
                   light: document.body.dataset.jpThemeLight || null})"""
    )


def set_theme(page: Page, which: str, timeout_ms: int = LOAD_TIMEOUT_MS) -> None:
    """Switch JupyterLab to the "light" or "dark" theme without reloading the page.

    Uses the `apputils:change-theme` command, so a widget already on screen stays live and
    a test can compare it in both themes. Returns once <body> says the new theme is loaded.
    """
    if which not in THEMES:
        raise ValueError(f"theme must be one of {sorted(THEMES)}, not {which!r}")
    name = THEMES[which]
    page.evaluate(
        "(name) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: name})",
        name,
    )
    page.wait_for_function(
        """([name, light]) => document.body.dataset.jpThemeName === name
                               && document.body.dataset.jpThemeLight === light""",
        arg=[name, "true" if which == "light" else "false"],
        timeout=timeout_ms,
    )
    wait_no_splash(page, timeout_ms)


def screenshot(page: Page, name: str, target: Locator | None = None,
               full_page: bool = False) -> Path:
    """Save a PNG of the page (or of `target`) under the artifacts folder and return its path.

    The folder is $NBVIDEO_TEST_ARTIFACTS or tests/browser/artifacts/ (git-ignored), so a
    person or CI can look at what the widgets really looked like. A `target` should fit in
    the viewport: Chromium cannot picture the hidden part of an element that overflows
    the notebook's scroll area.
    """
    wait_no_splash(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "screenshot"
    path = ARTIFACTS / f"{safe}.png"
    if target is not None:
        target.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)
    return path


def type_into(page: Page, field: Locator, text: str) -> None:
    """Replace a field's text with the keyboard, then Tab away (which commits it, as a person's
    edit is committed when they move on)."""
    field.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Tab")


def contrast(root: Locator) -> tuple[float, float]:
    """WCAG 2 contrast of a view's text, and of its muted text, against the view's background.

    What a screenshot cannot assert by itself: that a theme's colours leave text readable
    (AA asks 4.5 for body text, 3 for large or secondary text)."""
    text, muted = root.evaluate(_CONTRAST_JS)
    return float(text), float(muted)


_CONTRAST_JS = """(root) => {
    const rgba = (c) => {
        const v = c.match(/[\\d.]+/g).map(Number);
        return [...v.slice(0, 3), v[3] ?? 1];
    };
    const over = ([r, g, b, a], bg) => [r, g, b].map((v, i) => a * v + (1 - a) * bg[i]);
    const lum = ([r, g, b]) => {
        const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bg = rgba(getComputedStyle(root).backgroundColor);
    const ratio = (el) => {
        const a = lum(over(rgba(getComputedStyle(el).color), bg)), b = lum(bg);
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    };
    const muted = root.querySelector('.nbv-muted, .nbv-field > span, .nbv-track-label') || root;
    return [ratio(root), ratio(muted)];
}"""
