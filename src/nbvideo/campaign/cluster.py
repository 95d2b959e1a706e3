"""The campaign's money gate and key claims kept by the Dask cluster itself.

Why: a campaign on a team's cluster runs its variants on machines that may share the project
folder (NFS, a bucket mount) but no file lock that works across them. A file lock there would
let two machines both pass the budget check, or both pay for the same clip. So when the
variants run on Dask, the two things that must be decided once for the whole campaign are
decided by the scheduler, with distributed's own primitives:

- the budget (`ClusterBudget`): limit, spend and in-flight holds live in a distributed
  `Variable`, read and changed only under a distributed `Lock`. It is a `Budget` like the
  project's, so it sits in the one money gate (`runtime.budget.gate`) every paid call goes
  through; the runner picks it instead of the file budget (`SharedBudget`) for Dask runs.
- who makes a key (`ClusterClaims`): a distributed `Lock` named by the request hash. The
  shared store (runtime/shared.py) asks for it before looking up or paying for a key.

A worker that dies holding a lock loses it when its lease runs out
(`distributed.scheduler.locks.lease-timeout`, 30 s by default). Its in-flight holds stay
counted until the run ends: the job it sent may still be billing, and is resumed elsewhere.
The notebook seeds the budget from `<campaign>/budget.json` before the run and writes the
spend back after it, so `Campaign.budget()` and the next run see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import ClusterUnavailable
from nbvideo.runtime.shared_budget import HeldBudget

LOCK_WAIT_S = 300.0  # the budget lock is held for milliseconds; a dead holder's lease expires
READ_WAIT_S = 30.0


class ClusterNames(BaseModel):
    """Names of the cluster objects one campaign run uses (sent with each variant's task)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    claims: str
    budget: str

    @classmethod
    def for_run(cls, root: Path, run_id: str) -> ClusterNames:
        # Claims are named by the campaign (stable across runs: a job a dead worker submitted
        # in the last run is still arbitrated by the same name); the budget by the run.
        camp = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:12]
        return cls(claims=f"nbvideo-{camp}-key", budget=f"nbvideo-{camp}-budget-{run_id}")

    @property
    def started_topic(self) -> str:
        """The run's event topic on which each variant's task says it has started."""
        return f"{self.budget}-started"


def _state(limit_usd: float | None, spent_usd: float) -> dict[str, Any]:
    return {"limit_usd": limit_usd, "spent_usd": float(spent_usd), "in_flight": {}}


# --------------------------------------------------------------------------- notebook side

def open_budget(client: Any, names: ClusterNames, limit_usd: float | None,
                spent_usd: float) -> None:
    """Put the run's budget on the scheduler before any variant is sent."""
    from distributed import Variable

    Variable(names.budget, client=client).set(_state(limit_usd, spent_usd))


def close_budget(client: Any, names: ClusterNames) -> dict[str, Any] | None:
    """The run's budget as the scheduler has it at the end (then removed), or None if the
    scheduler lost it."""
    from distributed import Variable

    var = Variable(names.budget, client=client)
    try:
        state = var.get(timeout=READ_WAIT_S)
    except (TimeoutError, OSError):
        return None
    with contextlib.suppress(Exception):
        var.delete()
    return dict(state)


# --------------------------------------------------------------------------- worker side

def _worker() -> Any:
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        raise ClusterUnavailable("a campaign's cluster budget and claims work only inside a "
                                 "Dask worker; run the variant through Campaign.run") from None


def _stop_refresh(lock: Any) -> None:
    """Stop the lock object's lease-refresh timer (one per Lock object, on the worker's
    loop), so a lock used once does not tick for the life of the worker."""
    pc = getattr(lock, "refresh_callback", None)
    if pc is not None:
        lock.loop.add_callback(pc.stop)


@dataclass
class ClusterBudget(HeldBudget):
    """The campaign budget kept on the scheduler: a `Budget` that `reserve` checks like any
    other, its check-and-hold done under a distributed Lock."""

    names: ClusterNames | None = None
    who: str = ""
    _lock: Any = field(default=None, repr=False)
    _var: Any = field(default=None, repr=False)

    @classmethod
    def on_worker(cls, names: ClusterNames) -> ClusterBudget:
        """The budget of a run, as seen from the Dask worker running one of its variants."""
        from distributed import Lock, Variable, get_client

        w = _worker()
        b = cls("campaign budget", None, lambda: 0.0, names=names,
                who=f"{w.address}/{os.getpid()}")
        b._lock = Lock(f"{names.budget}-lock", scheduler_rpc=w.scheduler, loop=w.loop)
        b._var = Variable(names.budget, client=get_client())
        return b

    def close(self) -> None:
        if self._lock is not None:
            _stop_refresh(self._lock)

    def _read(self) -> dict[str, Any]:
        assert self.names is not None and self._var is not None
        try:
            data = dict(self._var.get(timeout=READ_WAIT_S))
        except (TimeoutError, OSError) as exc:
            raise ClusterUnavailable(
                f"the campaign budget {self.names.budget} is not on the cluster's scheduler "
                f"({type(exc).__name__}); nothing was sent. The scheduler restarted or the "
                f"run ended: run the campaign again") from None
        data["in_flight"] = dict(data.get("in_flight") or {})
        return data

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        assert self.names is not None
        if not self._lock.acquire(timeout=LOCK_WAIT_S):
            raise ClusterUnavailable(
                f"the campaign budget's lock {self.names.budget}-lock was not free after "
                f"{LOCK_WAIT_S:g} s; nothing was sent. Check the scheduler's health")
        try:
            yield
        finally:
            self._lock.release()

    def _write(self, data: dict[str, Any]) -> None:
        self._var.set(data)

    def _token(self, token: int) -> str:
        return f"{self.who}/{token}"

    def _record(self, estimate_usd: float) -> dict[str, Any]:
        return {"usd": float(estimate_usd), "worker": self.who}


class ClusterClaims:
    """A key's claim as a distributed Lock named by the request hash (`KeyClaims` of
    runtime/shared.py): one maker per key across every worker, no file lock involved."""

    def __init__(self, names: ClusterNames) -> None:
        w = _worker()
        self.prefix = names.claims
        self.rpc, self.loop = w.scheduler, w.loop

    def _on_worker(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        # The lock talks to the scheduler on the worker's event loop; the variant's own loop
        # (run_sync's) waits for it without blocking, so its other scenes keep going.
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro,
                                                                    self.loop.asyncio_loop))

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        from distributed import Lock

        lock = Lock(f"{self.prefix}-{key}", scheduler_rpc=self.rpc, loop=self.loop)
        try:
            if not await self._on_worker(lock._acquire(timeout=None)):
                raise ClusterUnavailable(f"the cluster refused the claim on {key[:12]}")
            try:
                yield
            finally:
                lease = lock._leases.popleft()
                await asyncio.shield(self._on_worker(lock._release(lease_id=lease)))
        finally:
            _stop_refresh(lock)
