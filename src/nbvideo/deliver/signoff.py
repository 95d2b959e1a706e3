"""Getting a cut signed off and out: scene reviews and comments, the review sheet, upload
metadata. The project's verbs (`p.approve`, `p.review_sheet`, `p.set_metadata`, ...) check
their arguments here and save through the runtime; the tables are what `p.review` and
`p.comments` show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from pydantic import ValidationError

from nbvideo.errors import InvalidInput, PhaseNotReady, from_validation
from nbvideo.model import approvals
from nbvideo.model.state import Comment, ExportRecord, Metadata, ProjectState
from nbvideo.plan import scenes as scene_ops
from nbvideo.runtime.context import Runtime


def review(rt: Runtime, ref: str | int, verb: str, user: str, text: str | None = None
           ) -> Comment:
    """Comment on, submit, approve or request changes to one scene, as `user`; a refused
    step leaves the scene as it was."""
    action = "comment" if verb == "comment" else "review"
    with rt.acting(action, f"{verb} scene {ref}"), rt.guard:
        scene = scene_ops.resolve(rt, ref)
        fn = getattr(approvals, verb)
        before = scene.model_copy(deep=True)
        args = (text,) if verb != "submit" or text is not None else ()
        try:
            made = fn(scene, user, *args)
        except BaseException:
            idx = rt.state.scenes.index(scene)
            rt.state.scenes[idx] = before
            raise
        rt.save()
        rt.audit(verb, detail=f"scene {scene.id}" + (f": {text}"[:200] if text else ""))
        return made


def review_table(state: ProjectState) -> pd.DataFrame:
    """Per scene: number, id, title, review status, comment count and the last comment."""
    rows = []
    for n, s in enumerate(state.scenes, 1):
        said = [c for c in s.comments if c.text]
        last = said[-1] if said else None
        rows.append({"scene": n, "id": s.id, "title": s.title, "status": s.review_status,
                     "comments": len(said),
                     "last_comment": f"{last.author}: {last.text}" if last else ""})
    return pd.DataFrame(rows, columns=["scene", "id", "title", "status", "comments",
                                       "last_comment"])


def comments_table(state: ProjectState) -> pd.DataFrame:
    """Every comment and review note, oldest first, with scene, author, time and kind."""
    order = {s.id: n for n, s in enumerate(state.scenes, 1)}
    rows = [{"scene": order.get(s.id), "scene_id": s.id, "id": c.id, "time": c.time,
             "author": c.author, "kind": c.kind, "text": c.text}
            for s in (*state.scenes, *state.archived_scenes)
            for c in s.comments]
    df = pd.DataFrame(rows, columns=["scene", "scene_id", "id", "time", "author", "kind",
                                     "text"])
    df["scene"] = df["scene"].astype("Int64")
    return df.sort_values("time", kind="stable").reset_index(drop=True)


def sheet(rt: Runtime, costs: pd.DataFrame, per_page: int) -> Any:
    """The storyboard's contact sheet (PDF and PNG) in exports/, with each scene's spend
    from `costs` and, once reviewing started, its status and latest comments."""
    from nbvideo.deliver.review import ReviewRow, review_sheet

    with rt.guard:
        reviewing = any(s.review_status != "draft" or s.comments for s in rt.state.scenes)
        rows = []
        for n, s in enumerate(rt.state.scenes, 1):
            if s.frame is None or s.frame.path is None:
                raise PhaseNotReady(f"scene {s.id} has no frame; run p.storyboard() first")
            spent = float(costs.loc[(costs["scene"] == s.id) & (costs["kind"] == "actual"),
                                    "cost_usd"].sum())
            rows.append(ReviewRow(number=n, frame_path=rt.store.path(s.frame.path),
                                  duration_s=s.duration_s, on_screen_text=s.on_screen_text,
                                  voice_line=s.voice_line, cost_usd=spent,
                                  status=s.review_status if reviewing else None,
                                  comments=[f"{c.author}: {c.text}" for c in s.comments
                                            if c.text and c.kind != "system"]))
        title = rt.state.storyboard_title or rt.state.name
        return review_sheet(title, rows, None, rt.store.path("exports"), per_page,
                            kit=rt.brand_kit())


def metadata(rt: Runtime) -> Metadata:
    """What was set with `set_metadata`, else a draft from the storyboard, brief and kit."""
    from nbvideo.deliver.package import draft_metadata

    if rt.state.metadata is not None:
        return rt.state.metadata
    kit = rt.brand_kit()
    return draft_metadata(rt.state, cta=kit.end_card.cta if kit else "",
                          link=kit.end_card.url if kit else "",
                          brand=kit.name if kit else None)


def set_metadata(rt: Runtime, fields: dict[str, Any]) -> Metadata:
    """Merge `fields` into the metadata (drafted fields become saved ones), check, save."""
    from nbvideo.deliver.package import FIELD_HINTS

    with rt.guard:
        try:
            meta = Metadata.model_validate({**metadata(rt).model_dump(), **fields})
        except ValidationError as exc:
            raise from_validation(exc, "set_metadata", FIELD_HINTS) from None
        rt.state.metadata = meta
        rt.save()
    return meta


def package(rt: Runtime, presets: Sequence[str] | str, name: str,
            export: Callable[[list[str]], list[ExportRecord]], thumbnail: Any = None,
            thumbnail_text: str | None = None,
            candidates: Callable[[], Any] | None = None) -> pd.DataFrame:
    """One folder and zip per platform preset, rendered by one `export(presets)`, with
    the metadata checked against each platform's limits first. `thumbnail` (see
    deliver/thumbnails.py) is checked after the metadata, before the export; `candidates()`
    gives the list a candidate's index picks from."""
    from nbvideo.deliver.package import package as write_packages

    chosen = [presets] if isinstance(presets, str) else list(presets)
    if not chosen:
        raise InvalidInput("presets: give at least one platform preset, e.g. ['tiktok']")
    meta = metadata(rt)
    from nbvideo.deliver import thumbnails

    def maker() -> Any:
        if thumbnail is None:  # the best frame of the export the packages ship
            return thumbnails.BestFramePoster(rt, meta.title, thumbnail_text, chosen)
        return thumbnails.poster_maker(rt, thumbnail, thumbnail_text, meta.title, chosen,
                                       candidates or (lambda: thumbnails.thumbnails_for(rt)))
    return pd.DataFrame(write_packages(rt.store.root, meta, chosen, name, export, maker))
