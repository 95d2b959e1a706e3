"""StoryboardBoard: a card per scene to edit, reorder, regenerate, and pick earlier takes.

Each card is a child part holding that scene's fields (JSON) and its frame thumbnail (bytes),
so a regenerate or an edit sends that one card and nothing else. The board itself holds the
card order, the options for the labels and duration stepper, and the duration/cost bar.
"""

from __future__ import annotations

import typing
from typing import Any

import ipywidgets
import traitlets as t

from nbvideo import views
from nbvideo.errors import CardLocked, InvalidInput, NbvideoError
from nbvideo.model.state import CAMERA_MOVES, MAX_SCENE_S, MIN_SCENE_S, SHOT_TYPES, Beat, Scene
from nbvideo.project import ModelSpec, get_model
from nbvideo.widgets import media
from nbvideo.widgets.base import Later, Part, ProjectView, WithBuffers, action, esm
from nbvideo.widgets.presence import HEARTBEAT_S, PresenceMessage, Room

BEATS: tuple[str, ...] = typing.get_args(Beat)
TAKE_STRIP_SIDE = 160  # px: the strip of earlier takes shows small thumbnails
PROMPT_CHARS = 120
THREAD_COMMENTS = 20  # a card carries its latest comments; p.comments has them all


class SceneCard(Part):
    """One scene on the board."""

    scene = t.Dict(help="id, beat, title, description, visual_prompt, shot, camera, duration_s, "
                   "on_screen_text, voice_line, voice_fit {words, max_words, voice_s, measured, "
                   "over_s, fits}, frame_take_id, has_frame, has_clip, takes "
                   "[{id, chosen, prompt, created_at}] (frame takes that succeeded), badges [{kind "
                   "(presenter, lip-synced), text}], "
                   "review_status, comment_count, comments [{id, author, time, kind, text}] "
                   "(the latest with text, oldest first), latest (the last entry, or None).").tag(sync=True)
    thumb = t.Bytes(b"", help="JPEG of the chosen frame, about 40 KB; empty while none.").tag(
        sync=True)
    busy = t.Unicode("", help="What runs on this card now ('regenerating'); '' when idle.").tag(
        sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self.thumb_of: str | None = kwargs.pop("thumb_of", None)
        super().__init__(**kwargs)


def fit_fields(fit: Any) -> dict[str, Any] | None:
    """A LineFit (pipeline.finishing) as the card's voice-over indicator shows it."""
    if fit is None:
        return None
    return {"words": fit.words, "max_words": fit.max_words, "voice_s": fit.voice_s,
            "measured": fit.measured, "over_s": fit.over_s, "fits": fit.fits}


def _note(c: Any) -> dict[str, Any]:
    return {"id": c.id, "author": c.author, "kind": c.kind, "text": c.text,
            "time": c.time.isoformat(timespec="seconds")}


def review_fields(scene: Scene) -> dict[str, Any]:
    """The card's review block: status, the comments (system notes included, e.g. why an
    approved scene went back to draft) and the latest review entry, which may be an approval
    without a note (so the card can say who approved)."""
    said = [c for c in scene.comments if c.text]
    return {"review_status": scene.review_status, "comment_count": len(said),
            "comments": [_note(c) for c in said[-THREAD_COMMENTS:]],
            "latest": _note(scene.comments[-1]) if scene.comments else None}


def scene_fields(scene: Scene, fit: Any = None) -> dict[str, Any]:
    takes = [{"id": tk.id, "chosen": tk.id == scene.frame_take_id,
              "prompt": str(tk.inputs.get("visual_prompt", ""))[:PROMPT_CHARS],
              "created_at": tk.created_at.isoformat(timespec="seconds")}
             for tk in scene.frame_takes if tk.ok]
    return {
        "id": scene.id, "beat": scene.beat, "title": scene.title,
        "description": scene.description, "visual_prompt": scene.visual_prompt,
        "shot": scene.shot, "camera": scene.camera, "duration_s": scene.duration_s,
        "on_screen_text": scene.on_screen_text, "voice_line": scene.voice_line,
        "voice_fit": fit_fields(fit), "frame_take_id": scene.frame_take_id,
        "has_frame": bool(scene.frame and scene.frame.ok),
        "has_clip": bool(scene.clip and scene.clip.ok), "takes": takes,
        "badges": media.badges(scene),
        **review_fields(scene),
    }


def duration_bounds(spec: ModelSpec) -> dict[str, Any]:
    """What the stepper allows for scenes made by `spec`: a model that makes only 5 or 10 s
    clips takes scenes up to its longest (shorter ones are trimmed on the timeline)."""
    lo, hi = MIN_SCENE_S, MAX_SCENE_S
    if spec.durations_s:
        hi = min(hi, max(spec.durations_s))
    elif spec.max_duration_s:
        lo, hi = max(lo, spec.min_duration_s), min(hi, spec.max_duration_s)
    return {"min": lo, "max": hi, "step": 0.5, "allowed": list(spec.durations_s),
            "model": spec.id}


class StoryboardBoard(ProjectView):
    """The storyboard as editable cards. Every action is one Project method; see `action`s."""

    _esm = esm("presence.js", "board.js")
    cards = t.List(t.Instance(SceneCard), help="The scene cards in storyboard order.").tag(
        sync=True, **ipywidgets.widget_serialization)
    title = t.Unicode("", help="The storyboard's title.").tag(sync=True)
    options = t.Dict(help="Choices for the card controls: beats, shots, cameras, and duration "
                     "{min, max, step, allowed, model} from the chosen video model.").tag(sync=True)
    summary = t.Dict(help="The bar: total_s, target_s, scenes, model, estimate_usd (None if it "
                     "cannot be priced), to_pay, budget_usd, note.").tag(sync=True)
    undo = t.Dict(help="The last deleted scene {scene, to, title}, which 'restore' brings back; "
                  "{} when there is none.").tag(sync=True)
    history = t.Dict(help="The Undo/Redo buttons: {undo, redo} summaries of the changes "
                     "p.undo()/p.redo() would take back or make again (None: nothing), "
                     "read_only.").tag(sync=True)
    presence = t.Dict(help="Who is on each card now (browsers sharing the notebook live): "
                      "{scene id: [{user, name, colour, editing}]}, editors first; a card with "
                      "an editor is locked for everyone else.").tag(sync=True)

    def __init__(self, project: Any, **kwargs: Any) -> None:
        self._cards: dict[str, SceneCard] = {}
        self._room = Room()
        super().__init__(project, **kwargs)

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        st = self.project.state
        root = self.project.path
        order = []
        fits = self.project.line_fits()
        for scene in st.scenes:
            fields = scene_fields(scene, fits.get(scene.id))
            card = self._cards.get(scene.id)
            if card is None:
                card = SceneCard(key=scene.id, scene=fields, thumb_of=scene.frame_take_id,
                                 thumb=media.thumbnail(root, scene.frame))
                self._cards[scene.id] = card
            else:
                changes: dict[str, Any] = {"scene": fields}
                if card.thumb_of != scene.frame_take_id:
                    changes["thumb"] = media.thumbnail(root, scene.frame)
                    card.thumb_of = scene.frame_take_id
                card.update(**changes)
            order.append(card)
        ids = {s.id for s in st.scenes}
        for sid in set(self._cards) - ids:
            self._cards.pop(sid).close()
        undo = dict(self.undo) if self.trait_has_value("undo") else {}
        if undo.get("scene") in ids:  # brought back some other way (e.g. from a cell)
            undo = {}
        steps = self.project.undo_redo
        return {"cards": order, "title": st.storyboard_title or st.name,
                "options": self._options(), "summary": self._summary(st), "undo": undo,
                "presence": self._room.by_scene(),
                "history": {"undo": steps.undo, "redo": steps.redo,
                            "read_only": steps.read_only}}

    def _options(self) -> dict[str, Any]:
        return {"beats": list(BEATS), "shots": list(SHOT_TYPES), "cameras": list(CAMERA_MOVES),
                "duration": duration_bounds(get_model(self.project.models["video"])),
                "heartbeat_s": HEARTBEAT_S}

    def _summary(self, st: Any) -> dict[str, Any]:
        out = {"total_s": round(sum(s.duration_s for s in st.scenes), 3),
               "target_s": st.brief.duration_s, "scenes": len(st.scenes),
               "model": self.project.models["video"], "estimate_usd": None, "to_pay": 0,
               "budget_usd": st.budget_usd, "note": ""}
        if not st.scenes:
            return out
        try:
            est = self.project.estimate()
        except NbvideoError as exc:
            return {**out, "note": str(exc)}
        body = est.iloc[1:]
        return {**out, "estimate_usd": round(float(est.iloc[0]["cost_usd"]), 6),
                "to_pay": int((body["cost_usd"] > 0).sum()),
                "note": "; ".join(n for n in body["note"] if n and "current" not in n)[:300]}

    def _parts(self) -> list[Part]:
        return list(self._cards.values())

    def _card(self, scene: str) -> SceneCard:
        card = self._cards.get(scene)
        if card is None:
            raise InvalidInput(f"no scene {scene!r} on this board")
        return card

    def _unlocked(self, scene: str, by: str | None) -> None:
        """Refuse a change to a card someone other than `by` is editing (CardLocked)."""
        holder = self._room.holder(scene, by)
        if holder is not None:
            order = [c.key for c in self.cards]
            number = order.index(scene) + 1 if scene in order else scene
            raise CardLocked(f"scene {number} is being edited by {holder.name}; it is locked "
                             "until they leave it")

    def static_html(self) -> str:
        st = self.project.state
        return views.storyboard_html(self.project.path, st.storyboard_title or st.name,
                                     st.scenes, st.brief.duration_s)

    # ------------------------------------------------------------------ actions
    @action("presence", quiet=True)
    def _presence(self, **fields: Any) -> dict[str, Any]:
        """A browser says which cards it shows and edits (see widgets.presence). A claim on a
        card someone else edits is not granted: the reply names who holds it."""
        msg = PresenceMessage.model_validate(fields)
        holder = self._room.update(msg, self._cards)
        with self._lock:
            if self.comm is not None:
                self.presence = self._room.by_scene()
        return {"locked_by": holder.name if holder else None}

    @action("edit")
    def _edit(self, scene: str, changes: dict[str, Any], by: str | None = None) -> None:
        self._unlocked(scene, by)
        self.project.edit_scene(scene, **changes)

    @action("move")
    def _move(self, scene: str, to: int, by: str | None = None) -> None:
        self._unlocked(scene, by)
        self.project.move_scene(scene, to)

    @action("reorder")
    def _reorder(self, order: list[str]) -> None:
        self.project.reorder(order)

    @action("add")
    def _add(self, after: str | None = None, fields: dict[str, Any] | None = None) -> dict[str, str]:
        return {"scene": self.project.add_scene(after, **(fields or {})).id}

    @action("duplicate")
    def _duplicate(self, scene: str) -> dict[str, str]:
        return {"scene": self.project.duplicate_scene(scene).id}

    @action("delete")
    def _delete(self, scene: str, by: str | None = None) -> None:
        self._unlocked(scene, by)
        handle = self.project.scene(scene)
        number, title = handle.number, handle.title or handle.beat
        self.project.delete_scene(scene)
        with self._lock:
            self.undo = {"scene": scene, "to": number, "title": title}

    @action("restore")
    def _restore(self, scene: str, to: int | None = None) -> None:
        self.project.restore_scene(scene, to)
        with self._lock:
            if self.undo.get("scene") == scene:
                self.undo = {}

    @action("choose_take")
    def _choose_take(self, scene: str, take: str, by: str | None = None) -> None:
        self._unlocked(scene, by)
        self.project.choose_take(scene, take)

    @action("takes")
    def _takes(self, scene: str) -> WithBuffers:
        """The strip of earlier takes: small thumbnails, sent only when the strip is opened."""
        sc = self.project.state.scene(scene) if scene in self._cards else None
        if sc is None:
            raise InvalidInput(f"no scene {scene!r} on this board")
        takes = [tk for tk in sc.frame_takes if tk.ok]
        return WithBuffers(
            [{"id": tk.id, "chosen": tk.id == sc.frame_take_id,
              "prompt": str(tk.inputs.get("visual_prompt", ""))[:PROMPT_CHARS]} for tk in takes],
            [media.thumbnail(self.project.path, tk, side=TAKE_STRIP_SIDE) for tk in takes])

    @action("regenerate")
    def _regenerate(self, scene: str, prompt: str | None = None, by: str | None = None) -> Later:
        """A new frame take, on a worker thread: this card spins, the rest stays usable.

        With no prompt (or the same one) it asks for a fresh take; a new prompt is an edit of
        the visual prompt, so going back to an earlier prompt reuses that take for free."""
        card = self._card(scene)
        self._unlocked(scene, by)
        handle = self.project.scene(scene)
        same = prompt is None or prompt == handle.visual_prompt
        force = same and handle.frame is not None
        with self._lock:
            card.busy = "regenerating"

        def work() -> None:
            try:
                self.project.regenerate_frame(scene, None if same else prompt, force=force)
                self.refresh()
            finally:
                with self._lock:
                    card.busy = ""

        return Later(work)

    @action("comment")
    def _comment(self, scene: str, text: str, name: str | None = None) -> None:
        """Signed p.user; on a board shared live with others, signed with the name the
        browser's Jupyter server knows its sender by (`name`), so each comment says whose."""
        shared = len({p["user"] for ps in self._room.by_scene().values() for p in ps}) > 1
        self.project.comment(scene, text, author=name if shared and name else None)

    @action("approve")
    def _approve(self, scene: str, text: str | None = None) -> None:
        self.project.approve(scene, text or None)

    @action("request_changes")
    def _request_changes(self, scene: str, text: str) -> None:
        self.project.request_changes(scene, text)

    @action("submit")
    def _submit(self, scene: str, text: str | None = None) -> None:
        self.project.submit_for_review(scene, text or None)

    @action("undo_change")
    def _undo_change(self) -> dict[str, Any]:
        """The board's Undo button: p.undo(), whatever made the change (a cell or a click)."""
        return {"summary": self.project.undo().summary}

    @action("redo_change")
    def _redo_change(self) -> dict[str, Any]:
        return {"summary": self.project.redo().summary}
