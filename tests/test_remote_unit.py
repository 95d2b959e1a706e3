"""The one way a clip, a presenter shot and a lip sync are made remotely (runtime/remote.py)
and report on their job (runtime/jobs.UnitEvents): the id saved before any waiting, a resumed
id not submitted again, a timed-out or failed wait stopped remotely, events only with a job."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from nbvideo.providers.base import ProviderError, Ticket, WaitTimeout
from nbvideo.runtime.jobs import Job, UnitEvents, run_sync
from nbvideo.runtime.remote import submit_and_wait


class Remote:
    """A remote model that records the order of what it was asked."""

    model = "fake-remote"

    def __init__(self, statuses: list[str], end: str = "succeeded", hang: bool = False) -> None:
        self.calls: list[str] = []
        self.statuses, self.end, self.hang = statuses, end, hang

    async def submit(self, req: Any) -> Ticket:
        self.calls.append("submit")
        return Ticket(id="p1", model=self.model)

    async def wait(self, ticket: Ticket, on_status: Any = None, timeout_s: float = 0) -> Ticket:
        self.calls.append(f"wait {ticket.id}")
        for s in self.statuses:
            on_status(ticket.model_copy(update={"status": s}))
        if self.hang:
            raise WaitTimeout(f"still running after {timeout_s} s", ticket)
        return ticket.model_copy(update={"status": self.end, "error": "NSFW input"
                                         if self.end == "failed" else None})

    async def cancel(self, ticket: Ticket) -> Ticket:
        self.calls.append(f"cancel {ticket.id}")
        return ticket.model_copy(update={"status": "canceled"})


class Pending:
    def __init__(self, calls: list[str], request_id: str | None = None) -> None:
        self.take = SimpleNamespace(request_id=request_id)
        self.calls = calls

    def submitted(self, request_id: str) -> None:
        self.calls.append(f"saved {request_id}")
        self.take.request_id = request_id


def events_of(job: Job[Any]) -> list[tuple[str | None, str]]:
    return [(e.scene, e.status) for e in job.events]


def test_a_new_job_is_saved_before_waiting_and_reports_its_statuses() -> None:
    job: Job[Any] = Job("clips", 1)
    remote = Remote(["processing", "succeeded"])
    t = run_sync(submit_and_wait(remote, None, Pending(remote.calls),  # type: ignore[arg-type]
                                 UnitEvents(job, "s2"), 60))
    assert t.status == "succeeded"
    assert remote.calls == ["submit", "saved p1", "wait p1"]
    # a final status is the caller's to report (after the fetch), not the wait's
    assert events_of(job) == [("s2", "starting"), ("s2", "processing")]


def test_a_resumed_job_is_not_submitted_again_and_no_job_means_no_events() -> None:
    remote = Remote(["processing"])
    pending = Pending(remote.calls, request_id="p0")
    t = run_sync(submit_and_wait(remote, None, pending, UnitEvents(None, "s1"), 60))  # type: ignore[arg-type]
    assert t.id == "p0" and remote.calls == ["wait p0"]


def test_a_timed_out_wait_stops_the_remote_job_and_says_how() -> None:
    remote = Remote([], hang=True)
    with pytest.raises(ProviderError, match=r"^fake-remote video p1 was still rendering after "
                                            r"the 2 s timeout; deleted$"):
        run_sync(submit_and_wait(remote, None, Pending(remote.calls),  # type: ignore[arg-type]
                                 UnitEvents(None, "s1"), 2, noun="video", still="rendering",
                                 stopped="deleted"))
    assert remote.calls == ["submit", "saved p1", "wait p1", "cancel p1"]


def test_a_failed_job_is_an_error_with_the_vendors_reason() -> None:
    remote = Remote([], end="failed")
    with pytest.raises(ProviderError, match=r"^fake-remote prediction p1 failed: NSFW input$"):
        run_sync(submit_and_wait(remote, None, Pending(remote.calls),  # type: ignore[arg-type]
                                 UnitEvents(None, "s1"), 60))
