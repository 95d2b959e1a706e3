"""The remote half of making a paid take: submit (or resume), save the id, wait, stop it.

Clips, presenter shots and lip syncs all make their take this way inside `produce`'s `run`
(runtime/context.py): the request id is saved before any waiting, so a new kernel resumes the
remote job instead of paying for a second one; a wait that times out or fails stops the
remote job (so it stops billing) before the error is raised; a canceled wait cancels it too
(the providers' `wait` does that itself).
"""

from __future__ import annotations

import contextlib
from typing import Any

from nbvideo.providers.base import ProviderError, Ticket, WaitTimeout
from nbvideo.runtime.context import Pending
from nbvideo.runtime.jobs import UnitEvents

DEFAULT_TIMEOUT_S = 900.0  # per remote job: a clip or lip sync still running after 15 min is canceled


async def submit_and_wait(model: Any, req: Any, pending: Pending, events: UnitEvents,
                          timeout_s: float, *, noun: str = "prediction",
                          still: str = "running", stopped: str = "canceled",
                          idempotent: bool = False) -> Ticket:
    """The finished ticket of `req` on a remote `model` (submit, wait, cancel, as
    RemoteVideoModel), resuming the id `pending` already holds.

    A job still running after `timeout_s` is stopped and named in the error as
    "{model} {noun} {id} was still {still} after the {timeout_s} s timeout; {stopped}"; one
    that ended other than succeeded is an error with the vendor's reason.

    `idempotent`: the model's `submit` takes an `idempotency_key` (the vendor replays a create
    sent again under it), and is given `pending.idempotency_key()`, so a create whose answer
    was lost can be tried again, here or by the clips phase, without paying twice."""
    events("starting")
    resumed = pending.take.request_id
    if resumed:
        ticket = Ticket(id=resumed, model=model.model)
    elif idempotent:
        ticket = await model.submit(req, idempotency_key=pending.idempotency_key())
    else:
        ticket = await model.submit(req)
    if not resumed:
        pending.submitted(ticket.id)  # saved before waiting: a new kernel resumes it
    try:  # wait() cancels the remote job itself if we are canceled
        ticket = await model.wait(ticket, on_status=events.ticket, timeout_s=timeout_s)
    except Exception as exc:  # timed out or lost track of it: stop it running (and billing)
        with contextlib.suppress(Exception):
            await model.cancel(ticket)
        if isinstance(exc, WaitTimeout):
            raise ProviderError(f"{model.model} {noun} {ticket.id} was still {still} after the "
                                f"{timeout_s:g} s timeout; {stopped}") from None
        raise
    if ticket.status != "succeeded":
        raise ProviderError(f"{model.model} {noun} {ticket.id} {ticket.status}: "
                            f"{ticket.error or 'no error given'}")
    return ticket
