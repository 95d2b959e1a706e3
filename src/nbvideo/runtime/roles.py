"""Who is asking, and whether their role in the workspace lets them: the role gate.

Why here: a project in a workspace (a folder with `nbvideo-workspace.json` above it) checks
roles at the gates every change already passes: `Runtime.save` (state reaches disk), the
money gate `Runtime.paid`, `Runtime.set_budget`, the export, a review step and project
creation. Each of those asks the project's `Gate`; there is no second path around it. A
project outside any workspace has no gate and behaves as it always did.

Identity comes from the hub: `JUPYTERHUB_USER` when the server was spawned by JupyterHub
(confirmed with the hub's API when `JUPYTERHUB_API_TOKEN` and `JUPYTERHUB_API_URL` are set:
the token belongs to one user, so a kernel that rewrote the variable is caught), else the OS
user. `p.user` and `NBVIDEO_USER` are display names for history and comments only; a role is
never read from them.

Budgets per person and per workspace are `WorkspaceBudget`s: like a campaign's
`SharedBudget` they hold each call's estimate in a file under one workspace-level lock before
the call is sent, so two people in two kernels spending at once never pass either cap. What
was spent is read from the projects' ledgers (their `user` column), not counted a second time.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import filelock

from nbvideo.errors import InvalidInput, RoleRefused
from nbvideo.model import workspace as wsm
from nbvideo.model.workspace import ACTIONS, Role, Workspace
from nbvideo.runtime.shared_budget import _HOST, SharedBudget
from nbvideo.store.audit import AuditLog
from nbvideo.store.folder import LEDGER_FILE
from nbvideo.store.listing import find_projects

STATE_DIR = ".nbvideo"
"""Workspace-level files that are not projects: the in-flight holds and their lock."""


_VERBS = {"read": "read", "export": "export", "comment": "comment on", "review": "review",
          "edit": "edit", "spend": "spend money in", "create": "create projects in",
          "publish": "publish from",
          "budget": "change budgets of", "members": "change members of",
          "brand": "change brand kits of"}


# ---------------------------------------------------------------------------- identity
def identity(confirm: bool = True) -> str:
    """The person this process acts for: the hub's user, else the OS user. `confirm=False`
    skips asking the hub (the ledger's `user` column of a project outside a workspace)."""
    hub = os.environ.get("JUPYTERHUB_USER", "").strip()
    if hub and not confirm:
        return hub
    if hub:
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        api = os.environ.get("JUPYTERHUB_API_URL", "")
        if token and api:
            confirmed = _hub_name(api, token)
            if confirmed != hub:
                raise RoleRefused(
                    f"JUPYTERHUB_USER says {hub!r} but the hub's API says this server's token "
                    f"belongs to {confirmed!r}; nbvideo acts only as the hub's user",
                    user=hub, action="identify", needed=None, role=None)
        return hub
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


@functools.lru_cache(maxsize=8)
def _hub_name(api: str, token: str) -> str:
    """Ask the hub whose token this is (GET /hub/api/user), once per process."""
    req = urllib.request.Request(api.rstrip("/") + "/user",
                                 headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            name = json.loads(resp.read()).get("name")
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as exc:
        raise RoleRefused(f"cannot confirm who this is with the hub at {api} ({exc}); "
                          f"roles need the hub's answer while JUPYTERHUB_API_TOKEN is set",
                          user=os.environ.get("JUPYTERHUB_USER"), action="identify",
                          needed=None, role=None) from None
    if not isinstance(name, str) or not name:
        raise RoleRefused(f"the hub at {api} did not name this server's user",
                          user=None, action="identify", needed=None, role=None)
    return name


# ---------------------------------------------------------------------------- budgets
def _spent(root: Path, user: str | None) -> float:
    """Actual spend in every project ledger of the workspace (of `user`, or of everyone)."""
    total = 0.0
    for folder in find_projects(root):
        ledger = folder / LEDGER_FILE
        try:
            lines = ledger.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a torn last line; the ledger warns about it when read
            if row.get("kind", "actual") != "actual":
                continue
            if user is None or row.get("user") == user:
                total += float(row.get("cost_usd") or 0.0)
    return total


@dataclass
class WorkspaceBudget(SharedBudget):
    """A person's or the workspace's cap, as a `Budget` the money gate checks.

    The limit is read from the members file under the lock; spent is the ledgers' actual
    sum; in flight is every hold in `<workspace>/.nbvideo/budget.json` (of this person, for
    a person's cap). Both caps of a workspace share one lock object, so the gate takes the
    workspace-level lock once and checks and holds both before the call is sent."""

    person: str | None = None
    who: str = ""
    lock: filelock.BaseFileLock | None = field(default=None, repr=False)
    ws_root: Path = field(default=Path("."))

    @classmethod
    def pair(cls, ws_root: Path, user: str) -> list[WorkspaceBudget]:
        """The person's cap and the workspace's, sharing one workspace-level lock."""
        state = Path(ws_root) / STATE_DIR
        lock = filelock.FileLock(str(state / ".budget.json.lock"), is_singleton=False,
                                 thread_local=False)
        return [cls(f"budget of {user}", None, lambda: 0.0, root=state, person=user, who=user,
                    lock=lock, ws_root=Path(ws_root)),
                cls("workspace budget", None, lambda: 0.0, root=state, person=None, who=user,
                    lock=lock, ws_root=Path(ws_root))]

    def _lock(self) -> filelock.BaseFileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        assert self.lock is not None
        return self.lock

    def _limit(self) -> float | None:
        ws = wsm.load(self.ws_root)
        if self.person is None:
            return ws.budget_usd
        member = ws.members.get(self.person)
        return member.budget_usd if member is not None else None

    @contextmanager
    def locked(self) -> Iterator[object]:
        with self._lock():
            self.limit_usd = self._limit()
            try:
                yield self
            finally:
                self._state = {}

    def total_with(self, estimate: float) -> tuple[float, float, float]:
        data = self._read()
        spent = _spent(self.ws_root, self.person)
        flying = sum(float(h["usd"]) for h in data["in_flight"].values()
                     if self.person is None or h.get("user") == self.person)
        return spent, flying, spent + flying + estimate

    def hold(self, token: int, estimate_usd: float) -> None:
        data = self._read()  # fresh: the pair's other budget may have held this token already
        if self._token(token) in data["in_flight"]:
            return
        data["in_flight"][self._token(token)] = {
            "usd": estimate_usd, "host": _HOST, "pid": os.getpid(), "user": self.who}
        self._write(data)

    @property
    def reads_ledger(self) -> bool:
        return True  # spent is the ledgers' sum: a logged cost shrinks the hold (settle)

    def settle(self, token: int, left_usd: float) -> None:
        data = self._read()  # under the lock `locked()` holds; the pair share one hold
        hold = data["in_flight"].get(self._token(token))
        if hold is not None and hold["usd"] != left_usd:
            hold["usd"] = left_usd
            self._write(data)

    def release(self, token: int, actual_usd: float) -> None:
        with self._lock():  # spent is the ledger's row, written inside the gate's block
            data = self._read()
            if data["in_flight"].pop(self._token(token), None) is not None:
                self._write(data)


# ---------------------------------------------------------------------------- the gate
@dataclass
class Gate:
    """A project's (or a workspace's) role checks, audit entries and budgets."""

    root: Path
    """The workspace folder (the one holding nbvideo-workspace.json)."""
    project: str | None
    user: str = field(default_factory=identity)
    _acting: list[str] = field(default_factory=list, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.root)

    def workspace(self) -> Workspace:
        """The members file as it is now (an owner may change it while we run)."""
        return wsm.load(self.root)

    def role(self) -> Role | None:
        return self.workspace().role_of(self.user, self.project)

    def require(self, action: str, detail: str = "") -> Role:
        """The user's role if it allows `action`; else an audit entry and `RoleRefused`."""
        needed = ACTIONS.get(action)
        if needed is None:
            raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        ws = self.workspace()
        role = ws.role_of(self.user, self.project)
        if wsm.rank(role) >= wsm.rank(needed):
            return role  # type: ignore[return-value]
        where = f"project {self.project!r} of workspace {ws.name!r}" if self.project \
            else f"workspace {ws.name!r}"
        has = f"{self.user} is {role}" if role else f"{self.user} has no role there"
        self.audit.append(who=self.user, action=action, outcome="refused",
                          project=self.project, role=role, detail=detail or f"needs {needed}")
        raise RoleRefused(
            f"{self.user} may not {_VERBS.get(action, action)} {where}: that needs the "
            f"{needed} role{'' if needed == 'owner' else ' or higher'}, and {has}. Ask an owner ({', '.join(ws.owners()) or 'none'}) "
            f"to change it in {wsm.MEMBERS_FILE}",
            user=self.user, action=action, needed=needed, role=role)

    @contextmanager
    def acting(self, action: str, detail: str = "") -> Iterator[Role]:
        """Check `action` once, then let the saves inside count as it (a viewer's export
        records the export and redraws free frame marks; a reviewer's approval saves the
        scene). Held on the gate, not per thread: an export's free redraws save from the
        job loop's thread, and a gate is one person's, so nobody else borrows it."""
        role = self.require(action, detail)
        with self._guard:
            self._acting.append(action)
        try:
            yield role
        finally:
            with self._guard:
                self._acting.remove(action)

    def check_save(self) -> None:
        """What `Runtime.save` asks: the action under way (default: an edit) is allowed."""
        with self._guard:
            acting = self._acting[-1] if self._acting else "edit"
        self.require(acting)

    def record(self, action: str, *, cost_usd: float = 0.0, detail: str = "",
               role: str | None = None) -> None:
        """One audit entry for a done action (a spend, an export, an approval...)."""
        self.audit.append(who=self.user, action=action, project=self.project,
                          cost_usd=cost_usd, role=role, detail=detail)

    def budgets(self) -> list[WorkspaceBudget]:
        return WorkspaceBudget.pair(self.root, self.user)


def gate_for(project_root: Path, user: str | None = None) -> Gate | None:
    """The gate of a project folder inside a workspace, or None (no members file above)."""
    folder = Path(project_root).absolute()
    root = wsm.find_root(folder.parent)
    if root is None:
        return None
    wsm.load(root)  # a broken members file is refused here, naming the field
    return Gate(root, project_name(root, folder), user if user is not None else identity())


def project_name(root: Path, folder: Path) -> str:
    """A project's name in its workspace: its path under the workspace folder."""
    return Path(folder).absolute().relative_to(Path(root).absolute()).as_posix()
