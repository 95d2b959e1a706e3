"""Who is on a board right now, and which card each person is editing: presence and card locks.

Why here: with JupyterLab's real-time collaboration, several browsers share the notebook's
one kernel, so the board's Python object is the one place that sees everyone. Identity comes
from each browser (the Jupyter server's ``/api/me``), because the kernel is one process for
all of them. Each browser says what it shows and edits in a ``presence`` message and repeats
it every ``HEARTBEAT_S``; an entry not heard from for ``TTL_S`` is dropped, so a closed tab
does not hold a lock for ever.

A card being edited by one person is locked for the others: their claim to edit it and their
changes to it are refused, naming who holds it. The lock is advisory between people sharing
one Jupyter server (anyone who can run a cell can change the project anyway); it keeps two
people from overwriting each other's typing on the board.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from nbvideo.model.checked import text_problem

TTL_S = 30.0
"""An entry not renewed for this long is gone (a tab closed without saying so)."""
HEARTBEAT_S = 10.0
"""How often a browser renews its presence (board.js uses the same number, sent in options)."""
MAX_VIEWING = 200


def _clean(text: str) -> str:
    problem = text_problem(text)
    if problem:
        raise ValueError(problem)
    if not text.strip():
        raise ValueError("must not be blank")
    return text.strip()


UserId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@+:-]+$")]
DisplayName = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_clean)]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
SceneId = Annotated[str, Field(min_length=1, max_length=64)]


class PresenceMessage(BaseModel):
    """What one browser says about itself: the cards on its screen, the one it edits (if any),
    or that it left."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user: UserId
    name: DisplayName
    colour: Colour = "#58628a"
    viewing: list[SceneId] = Field(default_factory=list, max_length=MAX_VIEWING)
    editing: SceneId | None = None
    left: bool = False


@dataclass(frozen=True)
class Seen:
    """One person as last heard from."""

    user: str
    name: str
    colour: str
    viewing: frozenset[str]
    editing: str | None
    at: float


class Room:
    """Everyone on one board, with expiry. Thread-safe: messages and refreshes come from the
    kernel's thread and the board's worker threads."""

    def __init__(self, ttl: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._seen: dict[str, Seen] = {}
        self._lock = threading.Lock()

    def update(self, msg: PresenceMessage, scenes: Iterable[str]) -> Seen | None:
        """Record `msg`; return who holds the card `msg` wants to edit when that is someone
        else (then the claim is not recorded, the rest of the message is), else None.

        A scene id the board does not have is refused with ValueError naming it."""
        known = set(scenes)
        unknown = sorted({*msg.viewing, *([msg.editing] if msg.editing else [])} - known)
        if unknown:
            raise ValueError(f"presence: no scene {unknown[0]!r} on this board")
        with self._lock:
            self._prune()
            if msg.left:
                self._seen.pop(msg.user, None)
                return None
            holder = self._holder(msg.editing, msg.user) if msg.editing else None
            self._seen[msg.user] = Seen(
                user=msg.user, name=msg.name, colour=msg.colour,
                viewing=frozenset(msg.viewing) | ({msg.editing} if msg.editing else set()),
                editing=None if holder else msg.editing, at=self._clock())
            return holder

    def holder(self, scene: str, asking: str | None) -> Seen | None:
        """Who other than `asking` is editing `scene` now, or None."""
        with self._lock:
            self._prune()
            return self._holder(scene, asking)

    def drop(self, user: str) -> None:
        with self._lock:
            self._seen.pop(user, None)

    def by_scene(self) -> dict[str, list[dict[str, Any]]]:
        """Per scene, who is on it: {user, name, colour, editing}, editors first, then by name."""
        with self._lock:
            self._prune()
            seen = list(self._seen.values())
        out: dict[str, list[dict[str, Any]]] = {}
        for s in sorted(seen, key=lambda s: (s.name.casefold(), s.user)):
            for scene in s.viewing:
                out.setdefault(scene, []).append(
                    {"user": s.user, "name": s.name, "colour": s.colour,
                     "editing": s.editing == scene})
        for people in out.values():
            people.sort(key=lambda p: not p["editing"])
        return dict(sorted(out.items()))

    def _holder(self, scene: str | None, asking: str | None) -> Seen | None:
        for s in self._seen.values():
            if s.editing == scene and s.user != asking:
                return s
        return None

    def _prune(self) -> None:
        cutoff = self._clock() - self._ttl
        for user in [u for u, s in self._seen.items() if s.at < cutoff]:
            del self._seen[user]
