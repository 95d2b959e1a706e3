"""Project is the facade a notebook holds: every public member says what it does, nothing
outside it reaches into its private runtime, and pydantic errors reach a user through one
translator (`nbvideo.errors.from_validation`)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.project import Project

SRC = Path(__file__).resolve().parents[1] / "src" / "nbvideo"


def _public_members() -> list[str]:
    return [n for n in vars(Project) if not n.startswith("_")]


def test_the_public_member_scan_sees_methods_properties_and_classmethods() -> None:
    names = _public_members()
    assert {"open", "close", "path", "budget_usd", "generate_clips", "runtime"} <= set(names)


@pytest.mark.parametrize("name", _public_members())
def test_every_public_member_of_project_has_a_docstring(name: str) -> None:
    member = inspect.getattr_static(Project, name)
    fn = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
    doc = inspect.getdoc(fn)
    assert doc and len(doc.split()) >= 4, f"Project.{name} needs a docstring saying what and why"


def test_no_module_outside_project_reads_the_private_runtime() -> None:
    """Handles, the campaign and widgets use `p.runtime` and Project's methods, never `p._rt`."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "project.py":
            continue
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if re.search(r"\._rt\b", line.split("#")[0]):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert not offenders, "private Project state used as an interface:\n" + "\n".join(offenders)


def _catches_validation_error(handler: ast.ExceptHandler) -> bool:
    names = ast.unparse(handler.type) if handler.type is not None else ""
    return "ValidationError" in names


def test_pydantic_errors_become_invalid_input_only_through_from_validation() -> None:
    """A hand-made InvalidInput from a ValidationError would word its message its own way."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for handler in ast.walk(tree):
            if not (isinstance(handler, ast.ExceptHandler) and _catches_validation_error(handler)):
                continue
            for node in ast.walk(handler):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                        and ast.unparse(node.exc.func) == "InvalidInput":
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, "use nbvideo.errors.from_validation at: " + ", ".join(offenders)


def test_a_scene_handle_reads_the_live_project_not_a_copy(fresh: nv.Project) -> None:
    """Handles read through the public runtime accessor: the live state, not a copy."""
    fresh.storyboard()
    first = fresh.scenes[0]
    fresh.edit_scene(first.id, description="a muddy boot print, close up")
    assert first.description == "a muddy boot print, close up"
    assert fresh.runtime.state is fresh.runtime.state  # live, never a deep copy
    assert fresh.state is not fresh.state


def test_a_reopened_folder_shares_one_runtime_until_the_last_handle_closes(tmp_path: Path) -> None:
    a = nv.Project.open(tmp_path / "shoe", brief="30s ad for a waterproof trail shoe")
    b = nv.Project.open(tmp_path / "shoe")
    assert a.runtime is b.runtime
    a.close()
    a.close()  # a second close of one handle does not count twice
    c = nv.Project.open(tmp_path / "shoe")
    assert c.runtime is b.runtime  # b still holds it open
    b.close()
    c.close()
    d = nv.Project.open(tmp_path / "shoe")  # the last handle went, and the live entry with it
    assert d.runtime is not b.runtime
    d.close()
