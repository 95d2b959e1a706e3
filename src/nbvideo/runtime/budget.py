"""Money checks made before a request leaves: spend plus in-flight estimates vs each budget.

A project has a budget (`budget_usd` on the project) and a call may have its own
(`generate_clips(budget_usd=...)`). Every paid request reserves its estimate in each budget
that applies; the reservation becomes actual spend when the call ends. A request that would
take any budget over its limit is refused with the numbers, before anything is sent.

`gate` is the money gate: the one way a paid provider call is made. A project reaches it
through `Runtime.paid` (which adds the project's and a campaign's budgets and logs a
`refused` ledger row); a campaign's own planning calls use it with the campaign budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field

from nbvideo.errors import BudgetExceeded

__all__ = ["Budget", "BudgetExceeded", "Reservation", "gate", "inside_gate", "reserve",
           "settling", "usd"]

_lock = threading.Lock()  # one lock for all budgets, so checking several is atomic
_in_gate: ContextVar[int] = ContextVar("nbvideo_in_gate", default=0)
_open: ContextVar[Reservation | None] = ContextVar("nbvideo_reservation", default=None)


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

    # A budget whose `spent()` reads the ledger sees a call's cost as soon as its row is
    # written, while the call's block (and so its hold) is still open. `settle` shrinks the
    # hold to what is left of the estimate in the same locked step as that write, so no
    # check in between counts the dollars twice. Budgets that count spend at release don't.
    @property
    def reads_ledger(self) -> bool:
        return not self.counts_own_calls

    def settle(self, token: int, left_usd: float) -> None:
        if token in self.in_flight:
            self.in_flight[token] = left_usd


@dataclass
class Reservation:
    actual_usd: float | None = None
    estimate_usd: float = 0.0
    token: int = 0
    budgets: list[Budget] = field(default_factory=list)
    settled_usd: float = 0.0
    """The cost already written to ledgers inside the block (see `settling`)."""


def usd(x: float) -> str:
    """Dollars for a message: cents, or tenths of a cent when cents would hide the amount
    ($0.0030 of frames against a $0.0010 budget, not $0.00 against $0.00)."""
    return f"${x:.2f}" if abs(x - round(x, 2)) < 1e-9 else f"${x:.4f}"


_tokens = iter(range(1, 1 << 62))


@contextmanager
def reserve(budgets: list[Budget], estimate_usd: float, what: str) -> Iterator[Reservation]:
    """Hold `estimate_usd` in every budget while the block runs; refuse if one would overflow.

    Set `reservation.actual_usd` inside the block: budgets that count their own calls (a
    per-call budget) add it; the others see it through `spent()` (the ledger)."""
    res = Reservation(estimate_usd=max(0.0, estimate_usd))
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
                    f"{what} refused before sending: {usd(spent)} spent + {usd(flying)} in "
                    f"flight + {usd(estimate_usd)} estimated = {usd(total)}, over the "
                    f"{b.name} of {usd(b.limit_usd)}",
                    budget=b.name, limit_usd=b.limit_usd, spent_usd=spent, in_flight_usd=flying,
                    estimate_usd=estimate_usd, item=what,
                )
        token = next(_tokens)
        for b in budgets:
            b.hold(token, estimate_usd)
    res.token, res.budgets = token, list(budgets)
    opened = _open.set(res)
    try:
        yield res
    finally:
        _open.reset(opened)
        with _lock:
            for b in budgets:
                b.release(token, res.actual_usd if res.actual_usd is not None else estimate_usd)


@contextmanager
def settling(cost_usd: float) -> Iterator[None]:
    """Write the ledger row of a paid call's cost inside this block.

    Inside the money gate, the row and the shrinking of the call's holds happen under the
    budgets' locks as one step, so another call checking at that moment sees the dollars
    once: in the ledger, not also in flight. Outside the gate, or for a row that costs
    nothing, it only runs the block."""
    res = _open.get()
    if res is None or not cost_usd > 0:
        yield
        return
    settles = [b for b in res.budgets if b.reads_ledger]
    with _lock, ExitStack() as held:
        for b in settles:
            held.enter_context(b.locked())
        yield
        res.settled_usd += cost_usd
        left = max(0.0, res.estimate_usd - res.settled_usd)
        for b in settles:
            b.settle(res.token, left)


@contextmanager
def gate(budgets: Sequence[Budget], estimate_usd: float, what: str,
         refused: Callable[[BudgetExceeded], None] | None = None) -> Iterator[Reservation]:
    """The money gate: every paid provider call runs inside this block, and only there.

    Reserves `estimate_usd` (an upper bound of what the call can cost) in every budget of
    `budgets` (each one once) before the block runs, so nothing is sent that could pass a
    limit; the block sets `reservation.actual_usd` to what the vendor billed, which settles
    the reservation. A refusal calls `refused(exc)` (e.g. to log it) and raises
    `BudgetExceeded` with the budget, the amount spent, the estimate and the item."""
    unique = list({id(b): b for b in budgets}.values())
    with ExitStack() as stack:
        try:
            held = stack.enter_context(reserve(unique, estimate_usd, what))
        except BudgetExceeded as exc:
            if refused is not None:
                refused(exc)
            raise
        depth = _in_gate.set(_in_gate.get() + 1)
        try:
            yield held
        finally:
            _in_gate.reset(depth)


def inside_gate() -> bool:
    """Whether this code runs inside the money gate's block (tests use it to catch a paid
    provider call made around the gate)."""
    return _in_gate.get() > 0
