"""What every project on this machine has seen of the paid engines lately, for routing.

A project's ledger only knows its own calls, so a new project would send its first cut to an
engine another notebook watched fail or crawl a minute ago, and pay a clip's wait to learn
it again. Each paid call's outcome (provider, model, status, latency, size, when; no prompt,
no key, no cost) is also appended here, in the per-user cache (`NBVIDEO_ENGINE_LOG` names
another file, or "off"), and provider health (generate/health.py) reads a project's ledger
together with the other projects' recent rows. Entries older than `KEEP_HOURS` are dropped
when the file is rewritten; the file is capped at `MAX_LINES`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from nbvideo.store.user_cache import user_cache_dir

if TYPE_CHECKING:
    import pandas as pd

    from nbvideo.store.ledger import LedgerEntry

__all__ = ["ENV", "KEEP_HOURS", "MAX_LINES", "log_path", "note", "with_others"]

ENV = "NBVIDEO_ENGINE_LOG"
KEEP_HOURS = 24.0
MAX_LINES = 5000
_FIELDS = ("time", "provider", "model", "units", "unit", "kind", "latency_s", "status",
           "cache_hit")


def log_path() -> Path | None:
    """The shared log's file, or None when it is switched off."""
    given = os.environ.get(ENV, "").strip()
    if given.lower() == "off":
        return None
    return Path(given).expanduser() if given else user_cache_dir("health") / "engine-calls.jsonl"


def _source(ledger_path: Path) -> str:
    """Which project a row came from: a hash of its ledger's path (no names on disk)."""
    return hashlib.sha256(str(Path(ledger_path).resolve()).encode()).hexdigest()[:16]


def counts(entry: LedgerEntry) -> bool:
    """Whether a ledger row is an engine's answer worth sharing: a paid call that ended."""
    return (entry.kind == "actual" and entry.status in ("succeeded", "failed")
            and entry.provider != "local" and not entry.cache_hit)


def note(entry: LedgerEntry, ledger_path: Path) -> None:
    """Share one paid call's outcome. Best effort: a read-only or full cache never fails the
    call being recorded."""
    path = log_path()
    if path is None or not counts(entry):
        return
    row = {k: getattr(entry, k) for k in _FIELDS} | {
        "time": entry.time.isoformat(), "source": _source(ledger_path),
        "note": "failed" if entry.status == "failed" else ""}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=5):
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            if path.stat().st_size > MAX_LINES * 400:
                _prune(path)
    except (OSError, TimeoutError):
        pass


def _prune(path: Path) -> None:
    """Keep the newest MAX_LINES // 2 rows of the last KEEP_HOURS (under the caller's lock)."""
    cutoff = _dt.datetime.now(_dt.UTC) - _dt.timedelta(hours=KEEP_HOURS)
    keep = [r for r in _rows(path) if _when(r) >= cutoff][-(MAX_LINES // 2):]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
    tmp.replace(path)


def _when(row: dict[str, Any]) -> _dt.datetime:
    try:
        t = _dt.datetime.fromisoformat(str(row.get("time")))
    except ValueError:
        return _dt.datetime.min.replace(tzinfo=_dt.UTC)
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def _rows(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a torn line
                if isinstance(row, dict):
                    out.append(row)
    except OSError:
        return []
    return out


def with_others(costs: pd.DataFrame, ledger_path: Path) -> pd.DataFrame:
    """A project's ledger (as a DataFrame) with the other projects' shared rows of the last
    KEEP_HOURS appended, in the ledger's columns: what provider health is computed from."""
    import pandas as pd

    path = log_path()
    if path is None or not path.is_file():
        return costs
    me = _source(ledger_path)
    cutoff = _dt.datetime.now(_dt.UTC) - _dt.timedelta(hours=KEEP_HOURS)
    rows = [r for r in _rows(path) if r.get("source") != me and _when(r) >= cutoff
            and all(k in r for k in _FIELDS)]
    if not rows:
        return costs
    others = pd.DataFrame([{k: r[k] for k in (*_FIELDS, "note")} for r in rows])
    others["time"] = pd.to_datetime(others["time"], utc=True)
    others["cache_hit"] = others["cache_hit"].astype(bool)
    for col in ("units", "latency_s"):
        others[col] = others[col].astype("float64")
    return pd.concat([costs, others.reindex(columns=costs.columns)], ignore_index=True)
