"""The cost ledger: one JSON line per provider call, append-only, read back as a DataFrame.

Local calls are logged too, at cost 0, so the ledger is a full record of what ran, how long
it took and what was reused from cache.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbvideo.model.state import utcnow
from nbvideo.store import engine_log

if TYPE_CHECKING:  # pandas is imported by the two functions that make frames: a ledger is
    import pandas as pd  # appended to and read (e.g. by `nbvideo ls`) without it

COLUMNS = [
    "time", "phase", "scene", "take", "provider", "model", "units", "unit", "unit_price_usd",
    "cost_usd", "estimated_usd", "kind", "latency_s", "status", "cache_hit", "request_id", "key",
    "note", "user",
]


class LedgerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time: _dt.datetime = Field(default_factory=utcnow)
    phase: Literal["questions", "storyboard", "frames", "clips", "voice", "export"]
    scene: str | None = None
    take: str | None = None
    provider: str
    model: str
    units: float = 0.0
    unit: str = "call"
    unit_price_usd: float = 0.0
    cost_usd: float = 0.0
    estimated_usd: float | None = Field(None, description="What the call was expected to cost.")
    kind: Literal["estimate", "actual"] = "actual"
    latency_s: float = 0.0
    status: Literal["succeeded", "failed", "canceled", "cache_hit", "submitted", "refused"] = (
        "succeeded"
    )
    cache_hit: bool = False
    request_id: str | None = None
    key: str | None = None
    note: str = ""
    user: str = Field("", description="Who made the call (the hub's or OS user); empty on "
                                      "rows written before nbvideo kept it.")


class Ledger:
    """Append-only JSONL file. Safe for threads of one process; lines are flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._guard = threading.Lock()

    def append(self, entry: LedgerEntry) -> LedgerEntry:
        line = entry.model_dump_json() + "\n"
        with self._guard, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        engine_log.note(entry, self.path)  # what routing in other projects learns from
        return entry

    def health_rows(self) -> pd.DataFrame:
        """This ledger with the other projects' recent engine outcomes (store/engine_log.py):
        what provider health and model="auto" read."""
        return engine_log.with_others(self.to_pandas(), self.path)

    def entries(self) -> list[LedgerEntry]:
        """Every readable line. A torn last line (a crash mid-write) is skipped with a warning."""
        if not self.path.exists():
            return []
        out: list[LedgerEntry] = []
        bad = 0
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    out.append(LedgerEntry.model_validate(json.loads(line)))
                except (json.JSONDecodeError, ValidationError):
                    bad += 1
        if bad:
            warnings.warn(f"{self.path}: skipped {bad} unreadable line(s)", stacklevel=2)
        return out

    def to_pandas(self) -> pd.DataFrame:
        """All calls as a DataFrame with fixed columns and dtypes, even when empty."""
        import pandas as pd

        rows = [e.model_dump() for e in self.entries()]
        df = pd.DataFrame(rows, columns=COLUMNS)
        df["time"] = pd.to_datetime(df["time"], utc=True)
        for col in ("units", "unit_price_usd", "cost_usd", "estimated_usd", "latency_s"):
            df[col] = df[col].astype("float64")
        df["cache_hit"] = df["cache_hit"].astype("bool")
        return df


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Spend and calls grouped by phase, provider and model, with a total row."""
    import pandas as pd

    if df.empty:
        return pd.DataFrame(
            columns=["phase", "provider", "model", "calls", "cache_hits", "cost_usd", "latency_s"]
        )
    actual = df[df["kind"] == "actual"]
    g = actual.groupby(["phase", "provider", "model"], sort=False).agg(
        calls=("status", "size"),
        cache_hits=("cache_hit", "sum"),
        cost_usd=("cost_usd", "sum"),
        latency_s=("latency_s", "sum"),
    )
    g = g.reset_index()
    total = pd.DataFrame(
        [{
            "phase": "total", "provider": "", "model": "",
            "calls": int(g["calls"].sum()), "cache_hits": int(g["cache_hits"].sum()),
            "cost_usd": float(g["cost_usd"].sum()), "latency_s": float(g["latency_s"].sum()),
        }]
    )
    out = pd.concat([g, total], ignore_index=True)
    out["cache_hits"] = out["cache_hits"].astype("int64")
    return out
