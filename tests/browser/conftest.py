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

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import server as lab_server
from tests.browser.lab import LabServer, screenshot

HERE = Path(__file__).parent
SKIP = os.environ.get("NBVIDEO_SKIP_BROWSER", "") not in ("", "0")


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


@pytest.fixture(scope="package")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A JupyterLab server on a free loopback port, with a random token, in throwaway dirs."""
    base = tmp_path_factory.mktemp("jupyterlab")
    try:
        with lab_server.start_lab(base) as server:
            yield server
    except lab_server.LabStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="package")
def browser():
    """Debian's headless Chromium through Playwright; fails with the fix when it is missing."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            b = lab_server.launch_chromium(pw)
        except lab_server.LabStartError as exc:
            pytest.fail(str(exc), pytrace=False)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, jupyter_server: LabServer) -> Iterator:
    """A page in a fresh browser context at a desktop size, with fresh Lab settings and kernels.

    See server.new_page: each test starts light-themed and ends with its kernels shut down.
    """
    with lab_server.new_page(browser, jupyter_server) as pg:
        yield pg
