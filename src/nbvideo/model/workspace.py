"""A team workspace: a folder of projects with a members file, `nbvideo-workspace.json`.

Why a file and not a server: on a JupyterHub every user's server sees the same shared volume,
so the folder is where a team already meets. The file says who may do what (a role per
person for the whole workspace, optionally overridden per project) and what each person and
the workspace as a whole may spend. Identity is not in here: who is asking comes from the hub
(runtime/roles.py); the file only maps names to roles and caps.

    {"name": "acme", "budget_usd": 100,
     "members": {"ana": {"role": "owner"}, "bo": {"role": "editor", "budget_usd": 10}},
     "projects": {"trail-shoe": {"roles": {"cy": "reviewer"}}}}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from nbvideo.errors import InvalidInput, from_validation, quote
from nbvideo.model.checked import Checked, _budget

MEMBERS_FILE = "nbvideo-workspace.json"
Role = Literal["viewer", "reviewer", "editor", "owner"]
ROLES: tuple[Role, ...] = ("viewer", "reviewer", "editor", "owner")
"""Lowest to highest: each role may do everything the roles before it may."""

ACTIONS: dict[str, Role] = {
    "read": "viewer",
    "export": "viewer",
    "comment": "reviewer",
    "review": "reviewer",
    "edit": "editor",
    "spend": "editor",
    "create": "editor",
    "publish": "editor",
    "budget": "owner",
    "members": "owner",
    "brand": "owner",
}
"""Each gated action and the lowest role allowed to do it."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,79}$")
Budget = Annotated[float | None, BeforeValidator(_budget)]


def check_person(name: Any, field: str = "user") -> str:
    """A hub user name as JupyterHub allows them (letters, digits, . _ @ + -, up to 80)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"{field} must be a user name of 1-80 letters, digits or . _ @ + - "
                           f"(as the hub names users), got {quote(name)}")
    return name


def check_role(role: Any, field: str = "role") -> Role:
    if role not in ROLES:
        raise InvalidInput(f"{field} must be one of {', '.join(ROLES)}, got {quote(role)}")
    return role  # type: ignore[no-any-return]


def rank(role: Role | None) -> int:
    return -1 if role is None else ROLES.index(role)


class Member(Checked):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    role: Role
    budget_usd: Budget = Field(None, description="What this person may spend in the whole "
                                                 "workspace (actual plus in flight); None: no cap.")
    display_name: str | None = Field(None, max_length=120,
                                     description="Shown in tables; never decides a role.")


class ProjectRoles(Checked):
    model_config = ConfigDict(extra="forbid")

    roles: dict[str, Role] = Field(default_factory=dict,
                                   description="Roles that replace the workspace role of "
                                               "these people in this project.")

    @field_validator("roles")
    @classmethod
    def _names(cls, v: dict[str, Role]) -> dict[str, Role]:
        for name in v:
            check_person(name, "projects.<project>.roles key")
        return v


class Workspace(Checked):
    """The members file: roles, per-project overrides, budgets."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    version: Literal[1] = 1
    name: str = Field("workspace", min_length=1, max_length=120)
    budget_usd: Budget = Field(None, description="What the whole workspace may spend; None: no cap.")
    members: dict[str, Member] = Field(default_factory=dict)
    projects: dict[str, ProjectRoles] = Field(default_factory=dict)

    @field_validator("members")
    @classmethod
    def _member_names(cls, v: dict[str, Member]) -> dict[str, Member]:
        for name in v:
            check_person(name, "members key")
        return v

    def role_of(self, user: str, project: str | None = None) -> Role | None:
        """The role `user` has in `project` (its override, else the workspace's), or None."""
        if project is not None and project in self.projects:
            override = self.projects[project].roles.get(user)
            if override is not None:
                return override
        member = self.members.get(user)
        return member.role if member is not None else None

    def owners(self) -> list[str]:
        return [n for n, m in self.members.items() if m.role == "owner"]


def find_root(path: Path) -> Path | None:
    """The workspace folder holding `path` (a project folder, or the workspace itself)."""
    path = Path(path).absolute()
    for folder in (path, *path.parents):
        if (folder / MEMBERS_FILE).is_file():
            return folder
    return None


def load(root: Path) -> Workspace:
    """Read and check `<root>/nbvideo-workspace.json`; errors name the field at fault."""
    path = Path(root) / MEMBERS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{root} is not a workspace: it has no {MEMBERS_FILE}") from None
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"{path} cannot be read as JSON ({exc})") from None
    try:
        return Workspace.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc, prefix=f"{MEMBERS_FILE}: ") from None


def dump(ws: Workspace) -> bytes:
    return (ws.model_dump_json(indent=1, exclude_none=True) + "\n").encode()
