"""Client sign-off per scene: review status, comments, and the rule that an edit after
approval sends a scene back to draft.

    draft --submit--> in_review --approve--> approved
      ^                   |                     |
      |            request_changes             edit (automatic, with a system note)
      |                   v                     |
      +---- edit --- changes_requested <--------+ (request_changes works from any status)

Comments are records: undo and restore keep them, so what a client said is never lost.
The functions here change a ProjectState in memory; Project saves (and so records) them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from nbvideo.errors import InvalidInput, PhaseNotReady, quote
from nbvideo.model.checked import text_problem
from nbvideo.model.state import ClipEdit, Comment, CommentKind, ProjectState, Scene

# The status labels' colours wherever a status is drawn: white text on them reads at WCAG AA.
# The board's CSS (widgets/static/nbvideo.css) repeats them; a test keeps the two in step.
STATUS_COLOURS = {"draft": "#58628a", "in_review": "#a35f00", "approved": "#16873c",
                  "changes_requested": "#c42828"}
STATUS_LABELS = {"draft": "draft", "in_review": "in review", "approved": "approved",
                 "changes_requested": "changes requested"}
# Fields of a scene that are about its review, not its content.
REVIEW_FIELDS = frozenset({"review_status", "comments"})
_NO_EDIT = ClipEdit().model_dump(mode="json")


class NotApproved(PhaseNotReady):
    """An export that needs sign-off found scenes without it."""


def new_comment(author: str, text: str, kind: CommentKind = "comment") -> Comment:
    return Comment(id="m" + secrets.token_hex(5), author=author, kind=kind, text=text)


def check_text(text: Any, *, required: bool) -> str:
    if text is None and not required:
        return ""
    if (not isinstance(text, str) or (required and not text.strip()) or len(text) > 2000
            or text_problem(text)):
        raise InvalidInput(f"text: a comment needs 1-2000 characters of text without control "
                           f"characters, got {quote(text)}")
    return text.strip()


def comment(scene: Scene, author: str, text: str) -> Comment:
    c = new_comment(author, check_text(text, required=True))
    scene.comments.append(c)
    return c


def submit(scene: Scene, author: str, text: str | None = None) -> Comment:
    if scene.review_status == "approved":
        raise InvalidInput(f"scene {scene.id} is already approved; edit it (it goes back to "
                           "draft) or request changes before submitting it again")
    scene.review_status = "in_review"
    c = new_comment(author, check_text(text, required=False), "submitted")
    scene.comments.append(c)
    return c


def approve(scene: Scene, author: str, text: str | None = None) -> Comment:
    scene.review_status = "approved"
    c = new_comment(author, check_text(text, required=False), "approved")
    scene.comments.append(c)
    return c


def request_changes(scene: Scene, author: str, text: str) -> Comment:
    body = check_text(text, required=True)
    scene.review_status = "changes_requested"
    c = new_comment(author, body, "changes_requested")
    scene.comments.append(c)
    return c


def not_approved(state: ProjectState) -> list[str]:
    """'scene 2 (s1a2b3c4d): draft' for every storyboard scene without approval."""
    return [f"scene {n} ({s.id}): {STATUS_LABELS[s.review_status]}"
            for n, s in enumerate(state.scenes, 1) if s.review_status != "approved"]


def require_approved(state: ProjectState) -> None:
    missing = not_approved(state)
    if missing:
        raise NotApproved(
            f"export needs every scene approved (require_approval=True); not approved: "
            f"{'; '.join(missing)}. Approve with p.approve(scene), or export without "
            "require_approval for a draft.")


def reset_edited(state: ProjectState, before: dict[str, Any], changes: Sequence[Any],
                 user: str) -> list[str]:
    """The history rule: a scene approved before this change whose content (any field but
    its review, or its trim and transition on the timeline) changed goes back to draft,
    with a system note saying what changed. Returns one note per scene reset."""
    edited: dict[str, list[str]] = {}
    for c in changes:
        p = c.path
        if p[0] == "scenes" and len(p) >= 3 and p[2] not in REVIEW_FIELDS:
            edited.setdefault(p[1], []).append(p[2])
        elif p[0] == "timeline" and len(p) >= 3 and p[1] == "edits":
            if len(p) > 3:
                edited.setdefault(p[2], []).append(".".join(p[3:]))
            else:  # a scene's first (or last) timeline edit: name what differs from none
                old, new = c.before or _NO_EDIT, c.after or _NO_EDIT
                edited.setdefault(p[2], []).extend(k for k in new if old.get(k) != new[k])
    if not edited:
        return []
    scenes = {s.id: s for s in state.scenes}
    notes = []
    for sid, fields in edited.items():
        scene = scenes.get(sid)
        was = before.get("scenes", {}).get(sid, {}).get("review_status")
        if scene is None or was != "approved" or scene.review_status != "approved":
            continue
        what = ", ".join(dict.fromkeys(fields))
        scene.review_status = "draft"
        scene.comments.append(new_comment(
            user, f"Back to draft: {what} changed after approval.", "system"))
        notes.append(f"scene {sid} was approved; {what} changed, so it is back to draft")
    return notes
