"""What a history event is: its kind ("edit", "reorder", "regenerate", ...), the scenes it
touched and a one-line summary, read off the changes alone, so a Project method added later
is described without being told how. `Change` lives here, not in history.py, so the two
modules do not import each other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Change(BaseModel):
    """One changed value: `path` into the normal form, with its value before and after.
    op "add" has no before, "remove" no after."""

    model_config = ConfigDict(extra="forbid")

    path: list[str]
    op: Literal["set", "add", "remove"] = "set"
    before: Any = None
    after: Any = None

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


_PRIORITY = ("storyboard", "restore_scene", "add", "delete", "reorder", "regenerate",
             "generate", "choose_take", "edit", "reseed", "trim", "transition",
             "request_changes", "approve", "submit", "review", "comment", "answer",
             "questions", "brief", "finish", "models", "budget", "export", "take", "tracks")


def _label(sid: str, order: Sequence[str]) -> str:
    return f"scene {order.index(sid) + 1} ({sid})" if sid in order else f"scene {sid}"


def _track_change(c: Change) -> str:
    """'V2 i1a2b3c4d added', 'V2 i1a2b3c4d: opacity', 'music: mute' for a change to tracks."""
    p = c.path
    if len(p) == 2:
        return "tracks " + ("set up" if c.op != "remove" else "back to the defaults")
    if len(p) >= 5 and p[3] == "items":
        what = {"add": "added", "remove": "removed"}.get(c.op, "") if len(p) == 5 else ""
        return f"{p[2]} {p[4]}" + (f" {what}" if what else f": {'.'.join(p[5:])}")
    return f"{p[2]}: {'.'.join(p[3:]) or c.op}"


def describe(changes: Sequence[Change], before: dict[str, Any],
             after: dict[str, Any]) -> tuple[str, list[str], str]:
    """(kind, scene ids touched, one-line summary) for a set of changes."""
    kinds: set[str] = set()
    per_scene: dict[str, list[str]] = {}
    other: list[str] = []
    bo, ao = before.get("order", []), after.get("order", [])
    added = [s for s in ao if s not in bo]
    removed = [s for s in bo if s not in ao]
    parts: list[str] = []
    made = {c.path[2] for c in changes if c.path[0] == "takes" and len(c.path) >= 3}
    if added:
        back = [s for s in added if s in before.get("archived", [])]
        kinds.add("restore_scene" if back else "add")
        if len(added) > 1 and len(removed) > 0:
            kinds.add("storyboard")
        parts.append("added " + ", ".join(_label(s, ao) for s in added))
    if removed:
        kinds.add("delete")
        parts.append("removed " + ", ".join(_label(s, bo) for s in removed))
    if not added and not removed and bo != ao:
        kinds.add("reorder")
        parts.append("order " + " ".join(str(bo.index(s) + 1) for s in ao))
    for c in changes:
        p = c.path
        root = p[0]
        if root in ("order", "archived"):
            continue
        if root == "scenes" and len(p) == 2:
            continue  # a whole scene appearing or going: covered by order/archived
        if root == "scenes":
            field, sid = p[2], p[1]
            per_scene.setdefault(sid, [])
            if field == "review_status":
                kinds.add({"approved": "approve", "changes_requested": "request_changes",
                           "in_review": "submit"}.get(c.after, "review"))
                per_scene[sid].append(f"{c.before} -> {c.after}")
            elif field == "comments":
                kinds.add("comment")
                if c.op == "add" and isinstance(c.after, dict):
                    text = c.after.get("text", "")[:60]
                    per_scene[sid].append(c.after.get("kind", "comment")
                                          + (f" {text!r}" if text else ""))
            elif field in ("frame_take_id", "clip_take_id"):
                # A take current because it was just made is a (re)generation, not a choice.
                kinds.add("choose_take" if c.after not in made
                          else "regenerate" if c.before is not None else "generate")
                per_scene[sid].append(f"{field[:-8]} take {c.after}")
            elif field in ("frame_seed", "clip_seed"):
                kinds.add("reseed")
                per_scene[sid].append(field)
            else:
                kinds.add("edit")
                per_scene[sid].append(field)
        elif root == "takes":
            sid = p[1]
            per_scene.setdefault(sid, [])
            if c.op == "add" and isinstance(c.after, dict):
                per_scene[sid].append(f"new {c.after.get('kind')} take {p[2]} "
                                      f"({c.after.get('status')})")
            elif len(p) == 4 and p[3] == "status":
                per_scene[sid].append(f"take {p[2]} {c.after}")
        elif root == "timeline" and len(p) >= 2 and p[1] == "tracks":
            kinds.add("tracks")
            other.append(_track_change(c))
        elif root == "timeline" and len(p) >= 3 and p[1] == "edits":
            sid = p[2]
            per_scene.setdefault(sid, [])
            sub = ".".join(p[3:])
            vals = (c.before or {}, c.after or {}) if len(p) == 3 else ({}, {})
            if sub.startswith("transition") or (len(p) == 3 and
                                                vals[0].get("transition") != vals[1].get(
                                                    "transition")):
                kinds.add("transition")
                per_scene[sid].append("transition")
            if sub.startswith("trim") or (len(p) == 3 and any(
                    vals[0].get(k) != vals[1].get(k) for k in ("trim_in_s", "trim_out_s"))):
                kinds.add("trim")
                per_scene[sid].append(sub or "trim")
        else:
            kinds.add({"answers": "answer", "finishing": "finish", "budget_usd": "budget",
                       "exports": "export", "storyboard_title": "storyboard",
                       "structure": "storyboard", "palette": "storyboard"}.get(root, root))
            other.append(".".join(p[:2]))
    if made and not kinds & {"regenerate", "generate"}:
        kinds.add("take")  # a take started, failed or finished without becoming current
    kind = next((k for k in _PRIORITY if k in kinds), sorted(kinds)[0] if kinds else "change")
    for sid, notes in per_scene.items():
        if notes and sid not in added and sid not in removed:
            parts.append(f"{_label(sid, ao)}: {', '.join(dict.fromkeys(notes))}")
    if other:
        parts.append(", ".join(dict.fromkeys(other)))
    touched = list(dict.fromkeys([*added, *removed, *per_scene]))
    summary = "; ".join(parts)
    return kind, touched, summary[:300] + ("\u2026" if len(summary) > 300 else "")
