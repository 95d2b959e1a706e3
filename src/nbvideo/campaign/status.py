"""A campaign's per-variant status table, live in the notebook while it runs.

One row per variant: queued, running on <worker>, done, failed or refused, with its seconds,
cost, exports and error. Finished rows come from the campaign's results (the same rows
campaign.json keeps); only "queued" and "running" live here, in memory, for the run.

In a Jupyter kernel the table is shown once (`display(..., display_id=True)`) and updated in
place, at most once per `UPDATE_EVERY_S`: a change inside that window is sent when it ends (a
timer), so a campaign of hundreds of short variants does not flood the frontend and the last
state always reaches it. Elsewhere (a script, CI logs, a terminal IPython) nothing is displayed:
the tqdm bar alone reports progress.

On Dask a variant says it started from inside its task: `announce_start` logs a structured event
(`Worker.log_event`) on the run's topic, which the notebook's client receives through
`Client.subscribe_topic` (https://distributed.dask.org/en/stable/logging.html#structured-logs).
"""

from __future__ import annotations

import html
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from nbvideo.campaign.models import CampaignState, VariantResult

UPDATE_EVERY_S = 1.0  # at most one table update per second reaches the frontend
STATUS_COLUMNS = ["variant", "status", "worker", "seconds", "cost_usd", "exports", "error"]


def live_frontend() -> bool:
    """True inside a Jupyter kernel (a frontend that renders HTML and updates displays)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def open_display(view: Any) -> Any:
    """Show `view` in the current cell; the handle its updates go through."""
    from IPython.display import display

    return display(view, display_id=True)


def announce_start(topic: str, variant: str, on: str) -> None:
    """Inside a Dask task: tell the notebook this variant has started, and where (`on`: the
    host:pid its finished row will name, so a row keeps one worker name throughout)."""
    try:
        from distributed import get_worker

        # not "worker": the scheduler sets that key to the worker's address
        get_worker().log_event(topic, {"variant": variant, "on": on})
    except Exception:  # not in a worker, or the scheduler is gone: only the display misses it
        pass


class StatusView:
    """What is displayed: the table as HTML (`table` holds the DataFrame)."""

    def __init__(self, table: pd.DataFrame, title: str) -> None:
        self.table = table
        self.title = title

    def _repr_html_(self) -> str:
        df = self.table.copy()
        df["exports"] = df["exports"].map(lambda xs: ", ".join(Path(x).name for x in xs))
        body = df.to_html(index=False, na_rep="", escape=True)
        return (f"<div><b>{html.escape(self.title)}</b>"
                f"<div style='max-height:24em;overflow-y:auto'>{body}</div></div>")

    def __repr__(self) -> str:
        return f"{self.title}\n{self.table.to_string(index=False)}"


class StatusBoard:
    """The campaign's status table for one run, shown live when there is a frontend.

    Thread-safe: on Dask "running" arrives on the client's event-loop thread and results on
    the notebook's."""

    def __init__(self, root: Path, state: CampaignState, show: bool, *,
                 every_s: float | None = None, clock: Callable[[], float] = time.monotonic,
                 later: Callable[[float, Callable[[], None]], Any] | None = None) -> None:
        self.root, self.state = root, state
        self.show = show and live_frontend()
        self.every_s = UPDATE_EVERY_S if every_s is None else every_s
        self.clock = clock
        self.later = later or _timer
        self.queued: set[str] = set()
        self.running: dict[str, tuple[str, float]] = {}  # variant -> (worker, started)
        self.updates = 0
        self._lock = threading.RLock()
        self._handle: Any = None
        self._last = float("-inf")
        self._pending: Any = None  # the timer that sends a held-back change
        self._waiting = False  # a timer is set
        self._dirty = False
        self.where = ""  # what runs the variants (the LocalCluster's plan), for the title

    # ------------------------------------------------------------------ transitions
    def queue(self, variants: list[str]) -> None:
        with self._lock:
            self.queued |= set(variants)
            for v in variants:
                self.running.pop(v, None)
        self._changed()

    def start(self, variant: str, worker: str) -> None:
        """The variant began on `worker` (ignored once it has finished: a late event)."""
        with self._lock:
            if variant not in self.queued and variant not in self.running:
                return
            self.queued.discard(variant)
            self.running[variant] = (worker, self.clock())
        self._changed()

    def finish(self, res: VariantResult) -> None:
        """Its result was recorded (it is in the campaign's results already)."""
        with self._lock:
            self.queued.discard(res.variant)
            self.running.pop(res.variant, None)
        self._changed()

    # ------------------------------------------------------------------ the table
    def table(self) -> pd.DataFrame:
        """One row per variant, in campaign order."""
        with self._lock:
            return status_table(self.root, self.state, self.queued, dict(self.running),
                                self.clock())

    def _title(self, df: pd.DataFrame) -> str:
        counts = df["status"].map(lambda s: "running" if s.startswith("running") else s)
        said = " · ".join(f"{n} {k}" for k, n in counts.value_counts().sort_index().items())
        on = f" (on a {self.where})" if self.where else ""
        return f"campaign {self.state.name}: {said}{on}"

    def _changed(self) -> None:
        if not self.show:
            return
        with self._lock:
            self._dirty = True
            wait = self._last + self.every_s - self.clock()
            if wait <= 0:
                self._push()
            elif not self._waiting:  # the held-back change goes out when the window ends
                self._waiting = True
                self._pending = self.later(wait, self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._pending, self._waiting = None, False
            if self._dirty:
                self._push()

    def _push(self) -> None:
        df = self.table()
        view = StatusView(df, self._title(df))
        self._dirty = False
        self._last = self.clock()
        self.updates += 1
        if self._handle is None:
            self._handle = open_display(view)
        else:
            self._handle.update(view)

    def close(self) -> None:
        """Send the final state (if a change was held back) and stop the timer."""
        with self._lock:
            if self._pending is not None:
                cancel = getattr(self._pending, "cancel", None)
                if cancel is not None:
                    cancel()
            self._pending, self._waiting = None, False
            if self.show and self._dirty:
                self._push()


def _timer(wait: float, fn: Callable[[], None]) -> threading.Timer:
    t = threading.Timer(wait, fn)
    t.daemon = True
    t.start()
    return t


def status_table(root: Path, state: CampaignState, queued: set[str] | frozenset[str] = frozenset(),
                 running: dict[str, tuple[str, float]] | None = None,
                 now: float | None = None) -> pd.DataFrame:
    """The status of every variant: queued / running on <worker> (this run), else its last
    result (done / failed / refused; "changed" if its recipe changed since; "pending" if never
    run). `seconds` of a running variant is how long it has been running."""
    running = running or {}
    rows = []
    for spec in state.variants:
        r = state.results.get(spec.id)
        row: dict[str, Any] = {"variant": spec.id, "status": "pending", "worker": "",
                               "seconds": 0.0, "cost_usd": 0.0, "exports": [], "error": None}
        if spec.id in running:
            worker, started = running[spec.id]
            row.update(status=f"running on {worker}", worker=worker,
                       seconds=round(max(0.0, (now or started) - started), 1))
        elif spec.id in queued:
            row["status"] = "queued"
        elif r is not None:
            stale = r.status == "done" and r.digest != spec.digest()
            row.update(status="changed" if stale else r.status, worker=r.worker,
                       seconds=r.seconds, cost_usd=r.cost_usd, error=r.error,
                       exports=[str(root / spec.project / e) for e in r.exports])
        rows.append(row)
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)
