"""Running nbvideo for a team: workspaces, roles, budgets, the audit log, usage per person.

A workspace is a folder of projects with a members file (`nbvideo-workspace.json`, see
model/workspace.py). Who is asking comes from the hub (runtime/roles.py); every change to the
members file goes through here, as its owner, and lands in the workspace's audit log.
`usage` is computed from the projects' ledgers and the audit log only, so it can never
disagree with what the money gate counted.

>>> import nbvideo as nv
>>> nv.create_workspace("agency")                          # doctest: +SKIP
>>> nv.set_role("agency", "bo", "editor")                  # doctest: +SKIP
>>> nv.set_budget("agency", 25, user="bo")                 # doctest: +SKIP
>>> nv.usage("agency")                                     # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import filelock

from nbvideo.errors import AuditBroken, InvalidInput
from nbvideo.model import workspace as wsm
from nbvideo.model.checked import budget as check_budget
from nbvideo.model.workspace import Member, ProjectRoles, Workspace
from nbvideo.runtime.roles import STATE_DIR, Gate, identity, project_name
from nbvideo.store.audit import AuditLog, Problem
from nbvideo.store.folder import LEDGER_FILE, atomic_write_bytes
from nbvideo.store.ledger import Ledger
from nbvideo.store.listing import find_projects

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["audit", "create_workspace", "roles_from_groups", "set_budget", "set_role", "usage", "usage_chart",
           "verify_audit", "workspace"]

USAGE_COLUMNS = ["user", "project", "week", "spend_usd", "calls", "clips", "frames",
                 "exports", "failed_calls", "refused"]


def _root(root: str | os.PathLike[str]) -> Path:
    path = Path(root).expanduser()
    if not (path / wsm.MEMBERS_FILE).is_file():
        raise InvalidInput(f"{path} is not a workspace: it has no {wsm.MEMBERS_FILE} "
                           f"(make one with nv.create_workspace({str(path)!r}))")
    return path


def _members_lock(root: Path) -> filelock.BaseFileLock:
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(root / STATE_DIR / ".members.lock"), is_singleton=False,
                             thread_local=False)


def workspace(root: str | os.PathLike[str]) -> Workspace:
    """The members file of `root`, checked (an error names the field at fault)."""
    return wsm.load(_root(root))


def create_workspace(root: str | os.PathLike[str], *, name: str | None = None,
                     budget_usd: float | None = None, owner: str | None = None) -> Workspace:
    """Make `root` a workspace whose only member is you (the hub's or OS user), as owner.

    `owner` is for an admin setting one up for someone else; it must be a hub user name."""
    path = Path(root).expanduser()
    if (path / wsm.MEMBERS_FILE).exists():
        raise InvalidInput(f"{path} is already a workspace ({wsm.MEMBERS_FILE} exists); "
                           f"change it with nv.set_role or nv.set_budget")
    who = wsm.check_person(owner if owner is not None else identity(), "owner")
    ws = Workspace(name=name or path.absolute().name, budget_usd=check_budget(budget_usd),
                   members={who: Member(role="owner")})
    path.mkdir(parents=True, exist_ok=True)
    with _members_lock(path):
        atomic_write_bytes(path / wsm.MEMBERS_FILE, wsm.dump(ws))
    AuditLog(path).append(who=identity(), action="members", detail=f"workspace {ws.name!r} "
                          f"created with owner {who}")
    return ws


def _change(root: Path, action: str, detail: str, edit: Callable[[Workspace], None],
            project: str | None = None) -> Workspace:
    """Check the owner's role, change the members file under its lock, audit it."""
    gate = Gate(root, project)
    gate.require(action, detail)  # refused: an audit entry, the file untouched
    with _members_lock(root):
        ws = wsm.load(root)
        new = ws.model_copy(deep=True)
        edit(new)
        new = Workspace.model_validate(new.model_dump())  # the whole file checked again
        if not new.owners():
            raise InvalidInput("a workspace needs at least one owner; make someone else "
                               "owner first")
        atomic_write_bytes(root / wsm.MEMBERS_FILE, wsm.dump(new))
    gate.record(action, detail=detail)
    return new


def set_role(root: str | os.PathLike[str], user: str, role: str | None, *,
             project: str | None = None) -> Workspace:
    """Give `user` a role (viewer, reviewer, editor, owner) in the workspace, or in one
    project of it; None takes it away. An owner's action."""
    path = _root(root)
    user = wsm.check_person(user)
    role = None if role is None else wsm.check_role(role)
    if project is not None:
        folder = path / project
        if not folder.is_dir():
            raise InvalidInput(f"project must be a project folder in {path}, got {project!r}")
        project = project_name(path, folder)

    def edit(ws: Workspace) -> None:
        if project is None:
            if role is None:
                ws.members.pop(user, None)
            elif user in ws.members:
                ws.members[user].role = role  # type: ignore[assignment]
            else:
                ws.members[user] = Member(role=role)  # type: ignore[arg-type]
            return
        over = ws.projects.setdefault(project, ProjectRoles())
        if role is None:
            over.roles.pop(user, None)
        else:
            over.roles[user] = role  # type: ignore[assignment]
        if not over.roles:
            ws.projects.pop(project, None)

    where = f" in project {project}" if project else ""
    return _change(path, "members", f"{user} -> {role or 'no role'}{where}", edit)


def set_budget(root: str | os.PathLike[str], budget_usd: float | None, *,
               user: str | None = None) -> Workspace:
    """Cap what the whole workspace (or one member, `user`) may spend, in dollars; None
    lifts the cap. An owner's action; the money gate reads it before every paid call."""
    path = _root(root)
    value = check_budget(budget_usd)
    if user is not None:
        user = wsm.check_person(user)

    def edit(ws: Workspace) -> None:
        if user is None:
            ws.budget_usd = value
        elif user not in ws.members:
            raise InvalidInput(f"user {user!r} is not a member of workspace {ws.name!r}; "
                               f"members: {', '.join(sorted(ws.members))}")
        else:
            ws.members[user].budget_usd = value

    who = f"budget of {user}" if user else "workspace budget"
    return _change(path, "budget", f"{who} set to {value}", edit)


def roles_from_groups(root: str | os.PathLike[str], groups: Mapping[str, Iterable[str]],
                      mapping: Mapping[str, str]) -> Workspace:
    """Set members' roles from hub groups: `groups` is group -> user names (what the hub's
    `GET /hub/api/groups` lists, or an OAuth authenticator's groups), `mapping` is group ->
    role. A person in several mapped groups gets the highest of their roles; people in no
    mapped group keep what they have. An owner's action, audited as one change."""
    path = _root(root)
    for name, given in (("groups", groups), ("mapping", mapping)):
        if not isinstance(given, Mapping):
            raise InvalidInput(f"{name} must be a mapping (a dict of group name -> "
                               f"{'user names' if name == 'groups' else 'role'}), got "
                               f"{type(given).__name__}")
    wanted: dict[str, str] = {}
    for group, role in mapping.items():
        role = wsm.check_role(role, f"mapping[{group!r}]")
        members = groups.get(group, ())
        if isinstance(members, (str, bytes)) or not isinstance(members, Iterable):
            raise InvalidInput(f"groups[{group!r}] must be a list of user names, got "
                               f"{type(members).__name__}")
        for user in members:
            user = wsm.check_person(user, f"groups[{group!r}] member")
            if wsm.rank(role) > wsm.rank(wanted.get(user)):  # type: ignore[arg-type]
                wanted[user] = role

    def edit(ws: Workspace) -> None:
        for user, role in wanted.items():
            if user in ws.members:
                ws.members[user].role = role  # type: ignore[assignment]
            else:
                ws.members[user] = Member(role=role)  # type: ignore[arg-type]

    summary = ", ".join(f"{u} -> {r}" for u, r in sorted(wanted.items()))
    return _change(path, "members", f"from hub groups: {summary}"[:500], edit)


# ---------------------------------------------------------------------------- the audit log
def audit(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Every audit entry, oldest first: seq, time, who, action, outcome (done or refused),
    project, cost_usd, role, detail and hash. `verify_audit` says whether it was changed."""
    return AuditLog(_root(root)).to_pandas()


def verify_audit(root: str | os.PathLike[str]) -> int:
    """Check the hash chain; returns the number of entries, or raises `AuditBroken` naming
    each line that was edited, removed or moved."""
    log = AuditLog(_root(root))
    problems: list[Problem] = log.verify()
    if problems:
        listed = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise AuditBroken(f"{log.path} was changed after it was written: {listed}{more}")
    return len(log.entries())


# ---------------------------------------------------------------------------- usage
def _week(times: pd.Series) -> pd.Series:
    """The Monday (UTC) each time falls in, as a date string: weeks that read and sort."""
    import pandas as pd

    days = times.dt.tz_convert("UTC").dt.normalize()
    return (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")


def usage(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Spend, calls, clips, frames, exports and failed calls per person, project and week.

    From the projects' ledgers (spend and calls, with their `user` column; rows older than
    it count as "unknown") and the audit log (exports and refusals): no count of its own."""
    import pandas as pd

    path = _root(root)
    frames = []
    for folder in find_projects(path):
        df = Ledger(folder / LEDGER_FILE).to_pandas()
        if df.empty:
            continue
        df = df[df["kind"] == "actual"].copy()
        df["project"] = project_name(path, folder)
        frames.append(df)
    rows: list[pd.DataFrame] = []
    if frames:
        led = pd.concat(frames, ignore_index=True)
        led["user"] = led["user"].replace("", "unknown").fillna("unknown")
        led["week"] = _week(led["time"])
        made = (led["status"] == "succeeded") & ~led["cache_hit"]
        led["clips"] = (made & (led["phase"] == "clips")).astype("int64")
        led["frames"] = (made & (led["phase"] == "frames")).astype("int64")
        led["failed_calls"] = (led["status"] == "failed").astype("int64")
        led["calls"] = (~led["cache_hit"] & led["status"].isin(
            ["succeeded", "failed", "canceled"])).astype("int64")
        rows.append(led.groupby(["user", "project", "week"], as_index=False).agg(
            spend_usd=("cost_usd", "sum"), calls=("calls", "sum"), clips=("clips", "sum"),
            frames=("frames", "sum"), failed_calls=("failed_calls", "sum")))
    log = AuditLog(path).to_pandas()
    if not log.empty:
        log = log[log["project"].notna()].copy()
        log["user"] = log["who"]
        log["week"] = _week(log["time"])
        log["exports"] = ((log["action"] == "export") & (log["outcome"] == "done")).astype("int64")
        log["refused"] = (log["outcome"] == "refused").astype("int64")
        rows.append(log.groupby(["user", "project", "week"], as_index=False).agg(
            exports=("exports", "sum"), refused=("refused", "sum")))
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "spend_usd" else
                                          "object" if c in ("user", "project", "week")
                                          else "int64") for c in USAGE_COLUMNS})
    out = rows[0] if len(rows) == 1 else rows[0].merge(rows[1], how="outer",
                                                       on=["user", "project", "week"])
    for col in USAGE_COLUMNS[3:]:
        if col not in out:
            out[col] = 0
        out[col] = out[col].fillna(0).astype("float64" if col == "spend_usd" else "int64")
    out = out[USAGE_COLUMNS].sort_values(["week", "user", "project"], kind="stable")
    return out.reset_index(drop=True)


def usage_chart(root: str | os.PathLike[str], save_to: str | os.PathLike[str] | None = None
                ) -> Figure:
    """Spend per person per week (stacked bars) and exports and failed calls per person:
    a plain matplotlib figure, saved as PNG when `save_to` is given."""
    from nbvideo.charts import _pyplot

    table = usage(root)
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    total = float(table["spend_usd"].sum())
    fig.suptitle(f"Usage in {Path(root).name}: ${total:,.2f}")
    left.set_title("spend per person per week ($)")
    right.set_title("per person")
    if table.empty:
        for ax in (left, right):
            ax.text(0.5, 0.5, "nothing yet", ha="center", va="center", transform=ax.transAxes)
    else:
        spend = table.pivot_table(index="week", columns="user", values="spend_usd",
                                  aggfunc="sum", fill_value=0.0)
        bottom = None
        for user in spend.columns:
            left.bar(spend.index, spend[user], bottom=bottom, label=str(user))
            bottom = spend[user] if bottom is None else bottom + spend[user]
        left.legend(fontsize="small")
        per = table.groupby("user")[["clips", "exports", "failed_calls"]].sum()
        xs = range(len(per))
        for i, col in enumerate(per.columns):
            right.bar([x + i * 0.27 for x in xs], per[col], width=0.27, label=col)
        right.set_xticks([x + 0.27 for x in xs], [str(u) for u in per.index])
        right.legend(fontsize="small")
    if save_to is not None:
        fig.savefig(save_to, dpi=100)
    plt.close(fig)
    return fig
