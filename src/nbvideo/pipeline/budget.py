"""Money checks made before a request leaves: spend plus in-flight estimates vs each budget.

A project has a budget (`budget_usd` on the project) and a call may have its own
(`generate_clips(budget_usd=...)`). Every paid request reserves its estimate in each budget
that applies; the reservation becomes actual spend when the call ends. A request that would
take any budget over its limit is refused with the numbers, before anything is sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field

from nbvideo.errors import BudgetExceeded

__all__ = ["Budget", "BudgetExceeded", "Reservation", "reserve"]

_lock = threading.Lock()  # one lock for all budgets, so checking several is atomic


@dataclass
class Budget:
    """One limit: `spent()` is what already counts against it (e.g. the ledger's actual sum)."""

    name: str
    limit_usd: float | None
    spent: Callable[[], float]
    counts_own_calls: bool = False
    in_flight: dict[int, float] = field(default_factory=dict)
    added: float = 0.0

    def total_with(self, estimate: float) -> tuple[float, float, float]:
        spent = self.spent() + self.added
        flying = sum(self.in_flight.values())
        return spent, flying, spent + flying + estimate

    # A budget shared by several processes (a campaign's) overrides these three: `locked`
    # is held around check-and-hold so no other process slips in between.
    def locked(self) -> AbstractContextManager[object]:
        return nullcontext()

    def hold(self, token: int, estimate_usd: float) -> None:
        self.in_flight[token] = estimate_usd

    def release(self, token: int, actual_usd: float) -> None:
        self.in_flight.pop(token, None)
        if self.counts_own_calls:
            self.added += actual_usd


@dataclass
class Reservation:
    actual_usd: float | None = None


_tokens = iter(range(1, 1 << 62))


@contextmanager
def reserve(budgets: list[Budget], estimate_usd: float, what: str) -> Iterator[Reservation]:
    """Hold `estimate_usd` in every budget while the block runs; refuse if one would overflow.

    Set `reservation.actual_usd` inside the block: budgets that count their own calls (a
    per-call budget) add it; the others see it through `spent()` (the ledger)."""
    res = Reservation()
    if estimate_usd <= 0:
        yield res
        return
    with _lock, ExitStack() as held:
        for b in budgets:
            held.enter_context(b.locked())
        for b in budgets:
            if b.limit_usd is None:
                continue
            spent, flying, total = b.total_with(estimate_usd)
            if total > b.limit_usd + 1e-9:
                raise BudgetExceeded(
                    f"{what} refused before sending: ${spent:.2f} spent + ${flying:.2f} in flight"
                    f" + ${estimate_usd:.2f} estimated = ${total:.2f}, over the {b.name} of "
                    f"${b.limit_usd:.2f}",
                    budget=b.name, limit_usd=b.limit_usd, spent_usd=spent, in_flight_usd=flying,
                    estimate_usd=estimate_usd, item=what,
                )
        token = next(_tokens)
        for b in budgets:
            b.hold(token, estimate_usd)
    try:
        yield res
    finally:
        with _lock:
            for b in budgets:
                b.release(token, res.actual_usd if res.actual_usd is not None else estimate_usd)
