"""A remote video model whose "server" is a folder: predictions survive the process that made
them, so a test can kill a kernel mid-job and check that a new one resumes instead of paying
again. Clips are rendered by the real local animatic when a prediction is fetched."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

from nbvideo.providers import ProviderSet, provider_set
from nbvideo.providers.base import ClipRequest, MediaResult, Ticket
from nbvideo.providers.catalog import ModelSpec, price, register
from nbvideo.providers.local import LocalAnimatic

SPEC = ModelSpec(
    id="fake-remote-video", provider="local", kind="video", ref="test/fake-remote",
    title="Folder-backed remote model for resume tests", price_basis="per_second",
    prices_usd={"720p": 0.05, "1080p": 0.05}, min_duration_s=1, max_duration_s=15,
    aspects=("16:9", "9:16", "1:1", "4:5"), resolutions={"720p": "720p", "1080p": "1080p"},
    max_concurrency=8, price_source="test double (tests/fake_remote.py)",
    price_date=date(2026, 12, 4),
)


class FolderRemote:
    provider = "fake-remote"
    model = SPEC.id

    def __init__(self, root: Path, latency_s: float) -> None:
        register(SPEC)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.latency_s = latency_s

    # ------------------------------------------------------------- the "server"
    def _path(self, pid: str) -> Path:
        return self.root / f"{pid}.json"

    def _read(self, pid: str) -> dict:
        return json.loads(self._path(pid).read_text())

    def _write(self, pid: str, data: dict) -> None:
        tmp = self._path(pid).with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._path(pid))

    def creates(self) -> int:
        return len(list(self.root.glob("*.json")))

    def cancels(self) -> int:
        return sum(1 for p in self.root.glob("*.json") if json.loads(p.read_text())["canceled"])

    # ------------------------------------------------------------- the protocol
    async def submit(self, req: ClipRequest) -> Ticket:
        pid = uuid.uuid4().hex[:12]
        self._write(pid, {"req": req.model_dump(mode="json"), "ready_at": time.time() + self.latency_s,
                          "canceled": False, "polls": 0})
        return Ticket(id=pid, model=self.model, status="starting")

    async def wait(self, ticket: Ticket, on_status: Callable[[Ticket], None] | None = None,
                   timeout_s: float = 900.0) -> Ticket:
        try:
            while True:
                data = self._read(ticket.id)
                data["polls"] += 1
                self._write(ticket.id, data)
                if data["canceled"]:
                    return ticket.model_copy(update={"status": "canceled"})
                if time.time() >= data["ready_at"]:
                    return ticket.model_copy(update={"status": "succeeded"})
                if on_status:
                    on_status(ticket.model_copy(update={"status": "processing"}))
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            await self.cancel(ticket)
            raise

    async def cancel(self, ticket: Ticket) -> Ticket:
        data = self._read(ticket.id)
        data["canceled"] = True
        self._write(ticket.id, data)
        return ticket.model_copy(update={"status": "canceled"})

    async def fetch(self, ticket: Ticket, out: Path) -> MediaResult:
        req = ClipRequest.model_validate(self._read(ticket.id)["req"])
        result = await LocalAnimatic().clip(req, out)
        usage = price(SPEC, seconds=result.duration_s or 0).model_copy(
            update={"request_id": ticket.id})
        return result.model_copy(update={"usage": usage})

    async def clip(self, req: ClipRequest, out: Path) -> MediaResult:
        ticket = await self.wait(await self.submit(req))
        return await self.fetch(ticket, out)


def remote_providers(root: Path, latency_s: float) -> ProviderSet:
    base = provider_set("local")
    return ProviderSet(name="local+fake-remote", planner=base.planner, frames=base.frames,
                       video=FolderRemote(root, latency_s))
