"""A budget shared by every process of a campaign: spend and in-flight holds in one locked file.

Why: a campaign runs its variants in several worker processes (or machines), and each project
only knows its own ledger. The campaign's limit must hold across all of them, so every paid
request reserves its estimate in ``<campaign>/budget.json`` under a file lock before it is
sent, exactly like a project budget does in memory (see budget.py), and turns it into actual
spend when the call ends. A reservation left by a process that died is dropped on the next
read (same host, pid gone), so a killed worker does not eat the budget forever.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from nbvideo.runtime.budget import Budget
from nbvideo.store.folder import atomic_write_bytes

BUDGET_FILE = "budget.json"
_HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class HeldBudget(Budget):
    """A budget whose limit, spend and in-flight holds live outside the process (a file, the
    Dask scheduler), read and changed only while `_held()` is held: the one check-and-hold
    both campaign budgets do, so a file and a cluster keep the same books the same way."""

    _state: dict[str, Any] = field(default_factory=dict, repr=False)

    def _held(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _read(self) -> dict[str, Any]:
        raise NotImplementedError

    def _write(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _token(self, token: int) -> str:
        raise NotImplementedError

    @property
    def reads_ledger(self) -> bool:
        return False  # spend lands in the shared books when a call releases its hold

    def _record(self, estimate_usd: float) -> dict[str, Any]:
        """The in-flight hold as stored: its dollars and who holds it."""
        raise NotImplementedError

    @contextmanager
    def locked(self) -> Iterator[object]:
        with self._held():
            self._state = self._read()
            self.limit_usd = self._state["limit_usd"]
            try:
                yield self
            finally:
                self._state = {}

    def total_with(self, estimate: float) -> tuple[float, float, float]:
        data = self._state or self._read()
        spent = float(data["spent_usd"])
        flying = sum(float(h["usd"]) for h in data["in_flight"].values())
        return spent, flying, spent + flying + estimate

    def hold(self, token: int, estimate_usd: float) -> None:
        data = self._state
        data["in_flight"][self._token(token)] = self._record(estimate_usd)
        self._write(data)

    def release(self, token: int, actual_usd: float) -> None:
        with self._held():
            data = self._read()
            if data["in_flight"].pop(self._token(token), None) is not None:
                data["spent_usd"] = float(data["spent_usd"]) + float(actual_usd)
            self._write(data)


@dataclass
class SharedBudget(HeldBudget):
    """The campaign budget as a `Budget` that produce() checks like any other.

    `limit_usd` is read from the file on every check (the notebook may change it between
    runs); `spent` is the actual spend of every variant, summed as their calls end."""

    root: Path = field(default=Path("."))

    @classmethod
    def at(cls, root: Path) -> SharedBudget:
        return cls("campaign budget", None, lambda: 0.0, root=Path(root))

    @property
    def path(self) -> Path:
        return self.root / BUDGET_FILE

    def _lock(self) -> filelock.BaseFileLock:
        return filelock.FileLock(str(self.root / f".{BUDGET_FILE}.lock"), is_singleton=False,
                                 thread_local=False)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            data = {}
        data.setdefault("limit_usd", None)
        data.setdefault("spent_usd", 0.0)
        flying = data.setdefault("in_flight", {})
        for token, hold in list(flying.items()):  # holds of processes that died
            if hold.get("host") == _HOST and not _alive(int(hold.get("pid", 0))):
                del flying[token]
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, json.dumps(data, indent=1).encode())

    def _held(self) -> filelock.BaseFileLock:
        return self._lock()

    def _token(self, token: int) -> str:
        return f"{_HOST}:{os.getpid()}:{token}"

    def _record(self, estimate_usd: float) -> dict[str, Any]:
        return {"usd": estimate_usd, "host": _HOST, "pid": os.getpid()}

    # ------------------------------------------------------------------ the notebook side
    def snapshot(self) -> dict[str, Any]:
        """limit, spent and in-flight dollars, as the file says now."""
        with self._lock():
            data = self._read()
        return {"limit_usd": data["limit_usd"], "spent_usd": float(data["spent_usd"]),
                "in_flight_usd": sum(float(h["usd"]) for h in data["in_flight"].values())}

    def settle(self, limit_usd: float | None, spent_usd: float | None = None) -> float:
        """Set the limit (and the spend, if given) with no hold in flight, WITHOUT the file
        lock; returns the spend. For the notebook of a campaign run on Dask: the cluster
        keeps the budget while the run goes on (campaign/cluster.py), the campaign's own
        lock keeps other runs out, and the workers never touch this file, so it needs no
        lock that works across machines."""
        data = self._read()
        data["limit_usd"] = limit_usd
        data["in_flight"] = {}
        if spent_usd is not None:
            data["spent_usd"] = float(spent_usd)
        self._write(data)
        return float(data["spent_usd"])

    def set_limit(self, limit_usd: float | None, clear_in_flight: bool = False) -> None:
        """Set the limit; `clear_in_flight` drops holds left by a run that is over."""
        with self._lock():
            data = self._read()
            data["limit_usd"] = limit_usd
            if clear_in_flight:
                data["in_flight"] = {}
            self._write(data)
