"""The workspace's audit log: append-only, hash-chained JSON lines, `audit.jsonl`.

Why a chain: an agency must be able to show a client who spent what, and a log anyone on the
shared volume can edit proves nothing unless an edit shows. Each line carries its number
(`seq`), the hash of the line before (`prev`) and its own hash over both and its content, so
changing a line breaks its hash, removing or reordering lines breaks the numbers and the
links. Removing the *last* lines leaves a shorter, valid chain; `audit.head.json` keeps the
count and the last hash, written after each line, so that shows too.

Appends from every kernel and process of the workspace go under one file lock.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import filelock
from pydantic import BaseModel, ConfigDict, Field

from nbvideo.model.state import utcnow
from nbvideo.store.folder import atomic_write_bytes

if TYPE_CHECKING:
    import pandas as pd

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head.json"
GENESIS = "0" * 64
COLUMNS = ["seq", "time", "who", "action", "outcome", "project", "cost_usd", "role", "detail",
           "hash"]


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = 0
    time: _dt.datetime = Field(default_factory=utcnow)
    who: str
    action: str
    outcome: Literal["done", "refused"] = "done"
    project: str | None = None
    cost_usd: float = 0.0
    role: str | None = None
    detail: str = ""
    prev: str = GENESIS
    hash: str = ""

    def digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"hash"})
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    line: int
    """1-based line of audit.jsonl at fault (or the line where missing lines were)."""
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


class AuditLog:
    """`<workspace>/audit.jsonl` and its head; safe for threads and processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / AUDIT_FILE
        self.head_path = self.root / HEAD_FILE
        self._lock = filelock.FileLock(str(self.root / f".{AUDIT_FILE}.lock"),
                                       is_singleton=False, thread_local=False)

    def _head(self) -> tuple[int, str]:
        try:
            head = json.loads(self.head_path.read_bytes())
            return int(head["count"]), str(head["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, GENESIS

    def append(self, *, who: str, action: str, outcome: Literal["done", "refused"] = "done",
               project: str | None = None, cost_usd: float = 0.0, role: str | None = None,
               detail: str = "") -> AuditEntry:
        """Add one line at the end of the chain (the head says where the end is)."""
        with self._lock:
            count, last = self._head()
            entry = AuditEntry(seq=count + 1, who=who, action=action, outcome=outcome,
                               project=project, cost_usd=round(float(cost_usd), 6), role=role,
                               detail=detail[:500], prev=last)
            entry.hash = entry.digest()
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(entry.model_dump_json() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            atomic_write_bytes(self.head_path, json.dumps(
                {"count": entry.seq, "hash": entry.hash}).encode())
        return entry

    def _lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return self.path.read_text(encoding="utf-8").splitlines()

    def entries(self) -> list[AuditEntry]:
        """Every line that reads as an entry (verify() says whether the chain holds)."""
        out = []
        for line in self._lines():
            try:
                out.append(AuditEntry.model_validate_json(line))
            except ValueError:
                continue
        return out

    def verify(self) -> list[Problem]:
        """Every break in the chain, first first: an edited, removed or reordered line, or
        lines cut from the end. An empty list means the log is whole."""
        problems: list[Problem] = []
        prev, expected = GENESIS, 1
        lines = self._lines()
        for n, line in enumerate(lines, 1):
            try:
                entry = AuditEntry.model_validate(json.loads(line))
            except (ValueError, TypeError) as exc:
                problems.append(Problem(n, f"is not an audit entry ({str(exc)[:80]}): edited"))
                prev, expected = "", expected + 1
                continue
            if entry.digest() != entry.hash:
                problems.append(Problem(n, f"entry #{entry.seq} was edited (its content does "
                                           f"not match its hash)"))
            elif entry.seq < expected:
                problems.append(Problem(n, f"entry #{entry.seq} is out of order (entry "
                                           f"#{expected} was expected here)"))
            elif entry.seq > expected:
                later = any(_seq(x) == expected for x in lines[n:])
                gone = (f"entry #{expected} is out of order (it comes later)" if later else
                        f"entry #{expected}" + (f" to #{entry.seq - 1}"
                                                if entry.seq - 1 > expected else "")
                        + " was removed")
                problems.append(Problem(n, f"{gone}; entry #{entry.seq} is here"))
            elif entry.prev != prev and prev:
                problems.append(Problem(n, f"entry #{entry.seq} does not follow the line "
                                           f"before it (line {n - 1} was rewritten, or the "
                                           f"chain is broken here)"))
            prev, expected = entry.hash, max(expected, entry.seq) + 1
        count, last = self._head()
        if self.head_path.exists() and count > len(lines):
            problems.append(Problem(len(lines) + 1, f"entries #{len(lines) + 1} to #{count} "
                                                    f"were removed from the end ({HEAD_FILE} "
                                                    f"counts {count} entries)"))
        elif self.head_path.exists() and lines and not problems and last != prev:
            problems.append(Problem(len(lines), f"the last entry does not match {HEAD_FILE}"))
        return problems

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        rows = [e.model_dump() for e in self.entries()]
        df = pd.DataFrame(rows, columns=COLUMNS)
        df["time"] = pd.to_datetime(df["time"], utc=True)
        df["cost_usd"] = df["cost_usd"].astype("float64")
        df["seq"] = df["seq"].astype("int64")
        return df


def _seq(line: str) -> int | None:
    try:
        value: Any = json.loads(line).get("seq")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
