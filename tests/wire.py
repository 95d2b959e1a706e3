"""A recording comm for widget tests: every message a widget would send to the browser.

ipywidgets opens each widget's comm through `comm.create_comm`; outside a kernel that is a
DummyComm that drops messages. The `wire` fixture swaps in one that keeps them, so tests
can count the bytes a view sends and read the replies to simulated browser messages.
The fixture itself lives in conftest.py.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from comm import DummyComm


@dataclass
class Message:
    comm_id: str
    msg_type: str  # comm_open, comm_msg, comm_close
    data: dict[str, Any]
    buffers: list[bytes]

    @property
    def size(self) -> int:
        """Bytes on the wire: the JSON part plus the binary buffers."""
        text = json.dumps(self.data, default=str, separators=(",", ":"))
        return len(text.encode()) + sum(memoryview(b).nbytes for b in self.buffers)

    @property
    def buffer_bytes(self) -> int:
        return sum(memoryview(b).nbytes for b in self.buffers)


class Wire:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def create_comm(self, *args: Any, **kwargs: Any) -> DummyComm:
        return _RecordingComm(self, *args, **kwargs)

    def record(self, comm_id: str, msg_type: str, data: Any, buffers: Any) -> None:
        with self._lock:
            self.messages.append(Message(comm_id, msg_type, dict(data or {}),
                                         [bytes(memoryview(b)) for b in buffers or []]))

    def mark(self) -> int:
        return len(self.messages)

    def since(self, mark: int = 0) -> list[Message]:
        with self._lock:
            return list(self.messages[mark:])

    def bytes_since(self, mark: int = 0) -> int:
        return sum(m.size for m in self.since(mark))

    def replies(self, mark: int = 0) -> list[dict[str, Any]]:
        out = []
        for m in self.since(mark):
            content = m.data.get("content") if m.data.get("method") == "custom" else None
            if isinstance(content, dict) and content.get("kind") == "reply":
                out.append({**content, "buffers": m.buffers})
        return out

    def updates(self, mark: int = 0) -> list[Message]:
        """State updates (comm_msg method=update) sent since `mark`."""
        return [m for m in self.since(mark)
                if m.msg_type == "comm_msg" and m.data.get("method") == "update"]


class _RecordingComm(DummyComm):
    def __init__(self, wire: Wire, *args: Any, **kwargs: Any) -> None:
        self._wire = wire
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        self._wire.record(self.comm_id, msg_type, data, buffers)


def send(widget: Any, kind: str, buffers: list[bytes] | None = None, **fields: Any) -> None:
    """What the browser's request() does: one custom message {kind, id, ...fields}, with
    binary `buffers` (a file's bytes) as ArrayBuffers would arrive."""
    widget._handle_custom_msg({"kind": kind, "id": f"t-{kind}", **fields},
                              [memoryview(b) for b in buffers or []])
