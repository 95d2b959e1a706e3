"""Storyboard board with 30 scenes in a real JupyterLab and headless Chromium (issue 5).

Three figures, measured in the browser on the kernel's websocket (Chrome DevTools Protocol
events Network.webSocketFrameReceived; payload bytes as delivered, binary frames included):

- bytes received at first display of `p.board`            goal <= 2 MB
- edit round trip: a keystroke (Tab out of a description) until the project is saved and
  the card re-rendered from the kernel, median of EDITS     goal <= 100 ms
- bytes received after one regenerate: only that card's model (and the board's reply)

It starts the same JupyterLab and Chromium as the browser tests (tests/browser/server.py).
Run alone with `python benchmarks/bench_widgets_browser.py`; main() returns the figures for
run.py. NBVIDEO_SKIP_BROWSER=1, or no Chromium, skips it with a note.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbvideo as nv  # noqa: E402
from tests.browser import lab  # noqa: E402
from tests.browser import server as lab_server  # noqa: E402

SCENES = 30
EDITS = 20
REGEN_CARD = 17  # 0-based: a card in the middle of the board
KERNEL_WS = "/api/kernels/"


def make_project(path: Path) -> None:
    """A 30-scene offline project with a frame per scene, closed so the kernel can open it."""
    p = nv.Project.open(path, brief="30 scene ad for a waterproof trail shoe", duration_s=90,
                        fps=12)
    p.storyboard()
    while len(p.scenes) < SCENES:
        n = len(p.scenes) + 1
        p.add_scene(description=f"Scene {n}: a hiker on wet rock",
                    visual_prompt=f"hiker on wet rock, rain, angle {n * 7} degrees")
    p.storyboard()
    p.close()


# Times the kernel's part of each browser message (message in -> reply sent), so the round
# trip can be split into kernel work and the trip through Jupyter's server and websocket.
KERNEL_TIMER = """\
import time
from nbvideo.widgets.base import ProjectView
handled_ms = []
_on_msg = ProjectView._on_msg
def _timed(self, widget, content, buffers):
    t0 = time.perf_counter()
    _on_msg(self, widget, content, buffers)
    handled_ms.append((time.perf_counter() - t0) * 1000)
ProjectView._on_msg = _timed"""
BOARD_CELL = 2


def write_notebook(path: Path, project: str) -> None:
    cells = [f"import nbvideo as nv\np = nv.Project.open({project!r})", KERNEL_TIMER, "p.board"]
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
                   "outputs": [], "source": src} for i, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                    "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))


class KernelWire:
    """Frames the page receives on the kernel's websocket, with their sizes and comm ids."""

    def __init__(self, page: Any) -> None:
        self.frames: list[tuple[int, str | None, str]] = []  # (bytes, comm_id, msg_type)
        self.comm_keys: dict[str, str] = {}  # comm id -> scene id, from the parts' comm_open
        self._kernel_ws: set[str] = set()
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.webSocketCreated", self._created)
        cdp.on("Network.webSocketFrameReceived", self._received)
        cdp.send("Network.enable")
        self._cdp = cdp

    def _created(self, event: dict[str, Any]) -> None:
        if KERNEL_WS in event.get("url", ""):
            self._kernel_ws.add(event["requestId"])

    def _received(self, event: dict[str, Any]) -> None:
        if event["requestId"] not in self._kernel_ws:
            return
        resp = event["response"]
        raw = (base64.b64decode(resp["payloadData"]) if resp.get("opcode") == 2
               else resp["payloadData"].encode())
        msg_type, content = _parse(raw)
        comm_id = content.get("comm_id")
        state = (content.get("data") or {}).get("state") or {}
        if comm_id and isinstance(state.get("key"), str) and state["key"]:
            self.comm_keys[comm_id] = state["key"]
        self.frames.append((len(raw), comm_id, msg_type))

    def mark(self) -> int:
        return len(self.frames)

    def bytes_since(self, mark: int) -> int:
        return sum(n for n, _, _ in self.frames[mark:])

    def by_comm(self, mark: int) -> dict[str | None, int]:
        out: dict[str | None, int] = defaultdict(int)
        for n, comm, _ in self.frames[mark:]:
            out[comm] += n
        return dict(out)

    def by_type(self, mark: int) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for n, _, msg_type in self.frames[mark:]:
            out[msg_type] += n
        return dict(out)


def _parse(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(msg_type, content) of a kernel message frame: the v1 websocket protocol (binary:
    offsets, channel, header, parent_header, metadata, content, buffers) or plain JSON."""
    try:
        if raw[:1] == b"{":
            msg = json.loads(raw)
            return msg.get("header", {}).get("msg_type", "?"), msg.get("content") or {}
        count = int.from_bytes(raw[:8], "little")
        offsets = [int.from_bytes(raw[8 * (i + 1):8 * (i + 2)], "little") for i in range(count)]
        header = json.loads(raw[offsets[1]:offsets[2]])
        return header.get("msg_type", "?"), json.loads(raw[offsets[4]:offsets[5]]) or {}
    except (ValueError, IndexError):
        return "?", {}


def first_display(page: Any, wire: KernelWire) -> tuple[dict[str, int], float]:
    """Run `p.board`; bytes received (by message type) until its 30 cards show their frames,
    and the seconds that took."""
    mark = wire.mark()
    t0 = time.perf_counter()
    lab.run_cell(page, BOARD_CELL)
    page.wait_for_function(
        """(n) => {
            const imgs = [...document.querySelectorAll('.nbv-board li.nbv-scene .nbv-thumb img')];
            return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
        }""", arg=SCENES, timeout=lab.RUN_TIMEOUT_MS)
    seconds = time.perf_counter() - t0
    page.wait_for_timeout(1000)  # messages still in flight count too
    return wire.by_type(mark), seconds


EDIT_JS = """([card, text]) => {
    // t0: the Tab keystroke that commits the edit; t1: the card's frame alt text, which the
    // view writes from the kernel's copy of the scene, carries the new description.
    window.__nbvEdit = null;
    const img = card.querySelector('.nbv-thumb img');
    let t0 = 0, startEpochMs = 0;
    const onKey = (e) => {
        if (e.key === 'Tab' && !t0) { t0 = performance.now(); startEpochMs = Date.now(); }
    };
    document.addEventListener('keydown', onKey, true);
    const obs = new MutationObserver(() => {
        if (!t0 || !img.alt.includes(text)) return;
        obs.disconnect();
        document.removeEventListener('keydown', onKey, true);
        window.__nbvEdit = {ms: performance.now() - t0, startEpochMs};
    });
    obs.observe(img, {attributes: true, attributeFilter: ['alt']});
}"""


def edit_round_trips(page: Any, project: Path) -> tuple[list[float], list[float]]:
    """EDITS description edits on one card: in-page ms from the keystroke to the re-rendered
    card, and ms from the keystroke to project.json's mtime (when the kernel saved it)."""
    card = page.locator(".nbv-board li.nbv-scene").nth(3)
    sid = card.get_attribute("data-scene-id")
    field = card.locator("textarea[data-field=description]")
    rendered, saved = [], []
    for i in range(EDITS):
        text = f"Edit {i}: boots on wet granite, spray in the low sun"
        field.fill(text)  # typed text, not yet committed
        page.evaluate(EDIT_JS, [card.element_handle(), text])
        page.keyboard.press("Tab")
        page.wait_for_function("() => window.__nbvEdit !== null", timeout=lab.RUN_TIMEOUT_MS)
        result = page.evaluate("() => window.__nbvEdit")
        state = json.loads((project / "project.json").read_text())
        desc = next(s["description"] for s in state["scenes"] if s["id"] == sid)
        assert desc == text, f"edit {i} was not saved: {desc!r}"
        rendered.append(result["ms"])
        saved.append((project / "project.json").stat().st_mtime_ns / 1e6 - result["startEpochMs"])
        page.wait_for_timeout(300)  # let the view's throttled refresh settle between edits
    return rendered, saved


def kernel_times(page: Any) -> list[float]:
    """The kernel's own time per browser message so far (KERNEL_TIMER), in ms."""
    index = lab.append_cell(page, "import json; print(json.dumps(handled_ms))")
    lab.run_cell(page, index)
    return json.loads(lab.cell_output(page, index).inner_text())


def regenerate(page: Any, wire: KernelWire) -> tuple[int, dict[str | None, int], str]:
    """Click Regenerate on one card; bytes received until its new frame shows, by comm."""
    card = page.locator(".nbv-board li.nbv-scene").nth(REGEN_CARD)
    sid = card.get_attribute("data-scene-id")
    old = card.locator(".nbv-thumb img").get_attribute("src")
    mark = wire.mark()
    card.locator("button[data-action=regenerate]").click()
    page.wait_for_function(
        """([card, old]) => {
            const img = card.querySelector('.nbv-thumb img');
            return card.getAttribute('aria-busy') === 'false' && img.getAttribute('src') !== old
                && img.complete && img.naturalWidth > 0;
        }""", arg=[card.element_handle(), old], timeout=lab.RUN_TIMEOUT_MS)
    page.wait_for_timeout(1500)  # the throttled refresh after the save, if any, lands too
    return wire.bytes_since(mark), wire.by_comm(mark), sid


def main() -> dict[str, float]:
    why = lab_server.unavailable()
    if why:
        print(f"skipped: {why}")
        return {}
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="nbv-bench-browser-") as tmp, \
            lab_server.start_lab(Path(tmp)) as server:
        make_project(server.root / "board30")  # before Playwright: it runs asyncio itself
        write_notebook(server.root / "board30.ipynb", "board30")
        with sync_playwright() as pw:
            browser = lab_server.launch_chromium(pw)
            try:
                with lab_server.new_page(browser, server) as page:
                    wire = KernelWire(page)
                    lab.open_notebook(page, server, "board30.ipynb")
                    for index in range(BOARD_CELL):
                        lab.run_cell(page, index)
                    first_by_type, first_s = first_display(page, wire)
                    rendered, saved = edit_round_trips(page, server.root / "board30")
                    kernel = kernel_times(page)[-EDITS:]
                    regen, by_comm, sid = regenerate(page, wire)
                    assert lab.error_outputs(page) == []
            finally:
                browser.close()

    first = sum(first_by_type.values())
    card_comm = next((c for c, key in wire.comm_keys.items() if key == sid), None)
    card_bytes = by_comm.get(card_comm, 0)
    others = sorted(k for c, k in wire.comm_keys.items() if c in by_comm and c != card_comm)
    med, med_saved, med_kernel = (statistics.median(x) for x in (rendered, saved, kernel))
    load = os.getloadavg()[0]
    print(f"(machine load average {load:.1f} on {os.cpu_count()} cores: the round trip crosses "
          "the kernel, Jupyter's server and Chromium, all competing for them)")
    print(f"first display of a {SCENES}-scene board: {first / 1e6:.3f} MB received "
          f"(goal <= 2 MB), cards drawn with frames in {first_s:.1f} s")
    print("  of which: " + ", ".join(f"{t} {n / 1e6:.3f} MB" for t, n in sorted(
        first_by_type.items(), key=lambda kv: -kv[1]) if n >= 1000)
          + " (comm_open: the widget, its cards and thumbnails; execute_result: the static "
          "HTML fallback for saved notebooks)")
    print(f"edit round trip, keystroke to saved and re-rendered: median {med:.0f} ms "
          f"(goal <= 100 ms; min {min(rendered):.0f}, max {max(rendered):.0f}, {EDITS} edits); "
          f"to project.json written: median {med_saved:.0f} ms; in the kernel (message in to "
          f"reply sent, save included): median {med_kernel:.0f} ms")
    print(f"after one regenerate: {regen} bytes received, {card_bytes} on that card's model, "
          f"other cards touched: {len(others)}{' ' + str(others) if others else ''}")
    return {"browser_board30_first_MB": first / 1e6, "browser_board30_first_s": first_s,
            "browser_edit_roundtrip_median_ms": med, "browser_edit_saved_median_ms": med_saved,
            "browser_edit_kernel_median_ms": med_kernel,
            "browser_regen_bytes": float(regen), "browser_regen_card_bytes": float(card_bytes),
            "browser_regen_other_cards": float(len(others)), "browser_load_avg": load}


if __name__ == "__main__":
    main()
