"""Project: the one object a notebook holds. It validates, delegates, documents: each verb
checks its arguments, hands the work to its phase (plan, generate, edit, sound, render,
deliver) on the project's Runtime, and says in its docstring what it does and why.

>>> import nbvideo as nv
>>> p = nv.Project.open("projects/trail-shoe", brief="30s ad for a waterproof trail shoe")
>>> p.answer(audience="weekend hikers")                                  # doctest: +SKIP
>>> p.storyboard(); p.generate_clips().wait(); p.export("ad", formats=["9:16"])  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from nbvideo import charts, views
from nbvideo.deliver import signoff
from nbvideo.edit import timeline as timeline_ops
from nbvideo.edit import versions
from nbvideo.edit.timeline import MAX_CROSSFADE_S, MIN_KEPT_S
from nbvideo.errors import InvalidInput, ProductImageSkipped, ProjectExists
from nbvideo.generate import clips as clips_phase
from nbvideo.generate import qa as qa_phase
from nbvideo.generate import selection
from nbvideo.generate.lipsync import lip_synced
from nbvideo.handles import Exports, Questions, SceneHandle, SceneList, TimelineView
from nbvideo.model import approvals
from nbvideo.model import workspace as wsm
from nbvideo.model.checked import ClipOptions, FileUpload
from nbvideo.model.checked import budget as check_budget
from nbvideo.model.look import Look
from nbvideo.model.posts import Post
from nbvideo.model.state import Brief, Comment, Finishing, Metadata, ProjectState, QAPolicy, Take
from nbvideo.overview import phase_status
from nbvideo.plan import questions as questions_phase
from nbvideo.plan import routing
from nbvideo.plan import scenes as scene_ops
from nbvideo.plan import storyboard as storyboard_phase
from nbvideo.providers.catalog import ModelSpec, get_model
from nbvideo.render import export as export_phase
from nbvideo.render import settings as finishing
from nbvideo.render.export import FITS
from nbvideo.render.transition_strips import strip as transition_strip
from nbvideo.render.transition_strips import transition_choices
from nbvideo.runtime import session
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.jobs import Job, JobEvent, run_sync
from nbvideo.sound.music_files import AUDIO_SUFFIXES
from nbvideo.store.assets import find_library
from nbvideo.store.folder import STATE_FILE, ProjectStore, atomic_write_bytes, slug_path
from nbvideo.store.history import HistoryEvent, check_user, default_user
from nbvideo.store.ledger import summarize

__all__ = [
    "Project",
    # The types and limits a view of a project needs (the widgets use these, never the phases):
    "AUDIO_SUFFIXES", "FITS", "MAX_CROSSFADE_S", "MIN_KEPT_S", "Job", "JobEvent", "ModelSpec",
    "get_model", "lip_synced", "transition_choices", "transition_strip",
]


def sfx_table(effects: Sequence[Any]) -> pd.DataFrame:
    """Sound effects as a table, one row each (tags joined by commas)."""
    return pd.DataFrame([{"name": e.name, "duration_s": e.duration_s,
                          "description": e.description, "tags": ", ".join(e.tags),
                          "source": e.source} for e in effects],
                        columns=["name", "duration_s", "description", "tags", "source"])


def sound_effects() -> pd.DataFrame:
    """The built-in sound effects (whoosh, riser, impact, click, pop and variants), made
    offline from fixed seeds: name, duration_s, description, tags, source. Place one with
    ``p.add_sound_effect("whoosh", at=2.0)``."""
    from nbvideo.sound import sfx

    return sfx_table(sfx.library())


def _shows_as_grid(method: Callable[..., Job[Any]]) -> Callable[..., Job[Any]]:
    """The Job a clip method returns displays as a live ClipGrid in a notebook."""

    @functools.wraps(method)
    def wrapper(self: Project, *args: Any, **kwargs: Any) -> Job[Any]:
        job = method(self, *args, **kwargs)
        job.display_hook = lambda: views.live_bundle(self, "grid", job=job)
        return job

    return wrapper


class Project:
    """An ad project on disk: brief, questions, storyboard, takes, timeline, exports, costs."""

    def __init__(self, held: session.Session) -> None:
        self._session = held  # counts this handle; read-only ones hold no lock
        self._rt = held.rt
        self._thumbnails: Any = None  # what p.thumbnails() returned last (an index picks)

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path: str | os.PathLike[str], brief: str | None = None, **options: Any) -> Project:
        """Create the project at `path` (its name is slugged) or reopen it with everything intact.

        Options: aspect ("16:9", "9:16", "1:1", "4:5"), duration_s (5-180; default the
        length the brief states, "15-second", ":15", "half a minute", else 30), resolution
        ("720p", "1080p"), fps, providers ("local"), seed, budget_usd, read_only, template
        (a brief template from ``nv.templates()``, e.g. "app-install", or an installed
        template pack's, "acme-ads/promo": its structure,
        questions and example copy; its length and aspect unless given; its example brief
        when `brief` is omitted).

        One live project per folder per process: opening a folder that is already open here
        (a re-run cell, a second name, a symlink to it) gives a handle on the same live
        project, so an edit through either is seen by both and no save overwrites another.
        Each handle's `close()` counts; the writer lock goes when the last one closes.
        Opening needs no API keys; a paid call asks for its key when it is about to be made.
        """
        return cls(session.open_session(path, brief, options))

    @classmethod
    def from_product_page(cls, source: str | os.PathLike[str],
                          path: str | os.PathLike[str] | None = None, *, images: int = 4,
                          allowed_hosts: Sequence[str] | None = None,
                          **options: Any) -> Project:
        """Start a project from a shop's product page: an https:// URL or a saved .html file.

        The brief is written from the page's structured data (a schema.org Product in JSON-LD
        or microdata, OpenGraph product tags): name, description, brand, price and the offer
        (a sale against the list price). Up to `images` product photos are fetched into
        assets/product/ (a URL through the guarded fetcher: https, public addresses, size
        caps; a saved page's images from its own folder only), the first becomes the look's
        product reference, and in a workspace they go into its asset library too.
        assets/product/page.json keeps what the page said. `path` defaults to a folder named
        after the product; options are `open`'s (aspect, duration_s, ...).

        Nothing is made when the page cannot be read or describes no product, and an
        existing project is never changed (ProjectExists). An image that cannot be used is
        skipped with a warning that says why.

        Example: ``nv.Project.from_product_page("https://shop.example/products/lamp")``
        """
        from nbvideo.plan import product_page

        if isinstance(images, bool) or not isinstance(images, int) or not 0 <= images <= 12:
            raise InvalidInput(f"images must be a whole number from 0 to 12, got {images!r}")
        page = product_page.fetch_page(source, allowed_hosts=allowed_hosts)
        target = slug_path(path if path is not None else page.facts.name)
        if (target / STATE_FILE).exists():
            raise ProjectExists(f"{target} is already a project; open it with "
                                f"nv.Project.open({str(target)!r}) (nothing was changed)")
        made = not target.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".nbvideo-product-", dir=target.parent) as tmp:
            kept, skipped = product_page.fetch_images(page, Path(tmp), limit=images,
                                                      allowed_hosts=allowed_hosts)
            brief = product_page.brief_text(page.facts, options.get("duration_s"))
            p = cls.open(target, brief=brief, **options)
            try:
                p._take_product_page(page, kept)
            except BaseException:
                p.close()
                if made:  # it was ours alone: leave no half-made project behind
                    shutil.rmtree(target, ignore_errors=True)
                raise
        for why in skipped:
            warnings.warn(f"product image skipped: {why}", ProductImageSkipped, stacklevel=2)
        return p

    def _take_product_page(self, page: Any, kept: list[Any]) -> None:
        """Move the fetched images in, record the page, and make the first image the look's
        product reference (and the product name its product)."""
        folder = self.path / "assets" / "product"
        folder.mkdir(parents=True, exist_ok=True)
        images = []
        for im in kept:
            dest = folder / im.path.name
            os.replace(im.path, dest)
            images.append({"url": im.url, "file": dest.relative_to(self.path).as_posix()})
        library = wsm.find_root(self.path) or find_library(self.path)
        if library is not None and images:  # the workspace's library keeps them for reuse
            from slugify import slugify

            from nbvideo.library import AssetLibrary

            lib = AssetLibrary(library)
            tags = ["product", slugify(page.facts.name)[:40] or "product"]
            licence = (f"from the product page of {page.facts.brand or 'the shop'}; check "
                       "the shop's terms before use")[:200]
            for im in images:
                source = im["url"] if "://" in im["url"] else page.source
                im["asset"] = lib.add(self.path / im["file"], kind="image", tags=tags,
                                      source=source[:500], licence=licence).id
        record = {"source": page.source, "facts": page.facts.model_dump(mode="json"),
                  "images": images}
        atomic_write_bytes(folder / "page.json", json.dumps(record, indent=2).encode())
        look: dict[str, Any] = {"product": page.facts.name}
        if images:
            look["reference_image"] = images[0]["file"]
        self.set_look(**look)

    def close(self) -> None:
        """Close this handle. When it is the last open handle on the project in this
        process, the writer lock is released so another process may open it."""
        self._session.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def restore_last_good(cls, path: str | os.PathLike[str]) -> Path | None:
        """Put the previous good project.json back; the unreadable one is kept aside."""
        return ProjectStore(slug_path(path)).restore_last_good()

    # ------------------------------------------------------------------ basics
    @property
    def path(self) -> Path:
        """The project folder (project.json, ledger, assets/, exports/)."""
        return self._rt.store.root

    @property
    def name(self) -> str:
        """The project's name: its folder's slug."""
        return self._rt.state.name

    @property
    def state(self) -> ProjectState:
        """A copy of the full state (edit through the methods, not this copy)."""
        with self._rt.guard:
            return self._rt.state.model_copy(deep=True)

    @property
    def runtime(self) -> Runtime:
        """The live Runtime the phase functions work on: state (live, not a copy), store,
        ledger, providers, guard. For the scene and timeline handles, the campaign (which
        joins with `runtime.share(...)`) and extensions that call phase functions; a
        notebook uses the verbs instead, which validate and record history."""
        return self._rt

    @property
    def brief(self) -> Brief:
        """The brief: text, aspect, duration_s, resolution, fps (change it with `update`)."""
        return self._rt.state.brief

    def update(self, **changes: Any) -> Brief:
        """Change the brief (text=..., aspect=..., duration_s=..., resolution=..., fps=...)."""
        return session.update_brief(self._rt, changes)

    # ------------------------------------------------------------------ questions
    def ask(self, force: bool = False) -> Questions:
        """Generate the clarifying questions (once; force=True asks again)."""
        run_sync(questions_phase.generate_questions(self._rt, force=force))
        return self.questions

    def _ensure_questions(self) -> None:
        """Later phases build on the questions: ask them first if nobody has."""
        if not self._rt.state.questions:
            run_sync(questions_phase.generate_questions(self._rt))

    @property
    def questions(self) -> Questions:
        """The clarifying questions with the answers so far (asked first if nobody has)."""
        self._ensure_questions()
        return Questions(self._rt.state.questions, dict(self._rt.state.answers), self)

    def answer(self, **answers: Any) -> dict[str, str]:
        """Record answers by question id, e.g. p.answer(audience="weekend hikers", tone="gritty")."""
        self._ensure_questions()
        with self._rt.guard:
            clean = questions_phase.validate_answers(self._rt.state.questions, answers)
            self._rt.state.answers = {**self._rt.state.answers, **clean}
            self._rt.save()
            return dict(self._rt.state.answers)

    # ------------------------------------------------------------------ storyboard
    def storyboard(self, replan: bool = False, *, fit_model: str | None = None,
                   template: str | None = None) -> SceneList:
        """Plan the scenes (once) and bring every scene's frame up to date with its inputs.

        `fit_model` (e.g. "wan-2.5-i2v-fast", which makes 5 or 10 s clips) asks the planner
        for scene lengths that model makes exactly, so no paid second is trimmed; it applies
        when the plan is made (the first time, or with replan=True). Default: timed freely.
        `template` ("acme-ads/intro", a template pack's storyboard) takes the scenes from it
        instead of the planner (with replan=True, in place of the scenes there are)."""
        if fit_model is not None:
            spec = get_model(fit_model)
            if spec.kind != "video":
                raise InvalidInput(f"fit_model={fit_model!r} is a {spec.kind} model; name a "
                                   f"video model")
        self._ensure_questions()
        run_sync(storyboard_phase.plan(self._rt, replan=replan, fit_model=fit_model,
                                       template=template))
        run_sync(storyboard_phase.make_frames(self._rt))
        return self.scenes

    @property
    def board(self) -> Any:
        """The storyboard as a live StoryboardBoard widget (the same one each time)."""
        return views.live_widgets().view_for(self, "board")

    @property
    def scenes(self) -> SceneList:
        """The storyboard's scenes in order, as handles that read the live project."""
        return SceneList(self, [SceneHandle(self, s.id) for s in self._rt.state.scenes])

    def scene(self, ref: str | int) -> SceneHandle:
        """A scene by id or by 1-based number."""
        return SceneHandle(self, scene_ops.resolve(self._rt, ref).id)

    def edit_scene(self, ref: str | int, **changes: Any) -> SceneHandle:
        """Change a scene's fields (description, visual_prompt, duration_s, ...); checked whole."""
        return SceneHandle(self, scene_ops.edit(self._rt, ref, **changes).id)

    def present(self, ref: str | int, *, avatar: str | None = None, voice: str | None = None,
                background: str | None = None, model: str | None = None) -> SceneHandle:
        """Make scene `ref` a presenter scene: an avatar says its voice line to camera.

        `avatar` and `voice` are the presenter model's ids (offline: see
        `p.presenter_avatars()`, voices 'narrator-f', 'narrator-m', 'warm', 'bright'; HeyGen:
        `p.presenter_avatars("heygen")`, `p.presenter_voices("heygen")`); `background` is
        'frame' (the scene's storyboard frame) or a colour '#rrggbb'; `model` a presenter
        model ('local-presenter', 'heygen-avatar', 'heygen-talking-photo'; default: HeyGen
        where the project has it, else offline). Settings not given are kept. The next
        `p.generate_clips()` makes the shot, and the export plays its line once, in sync (no
        voice-over line for this scene). `p.edit_scene(ref, kind="broll")` turns it back."""
        return SceneHandle(self, scene_ops.present(self._rt, ref, avatar=avatar, voice=voice,
                                                   background=background, model=model).id)

    def presenter_avatars(self, vendor: str = "local") -> pd.DataFrame:
        """The presenters `present(avatar=...)` can use, as a table: the offline ones, or
        HeyGen's avatar looks, photo avatars (talking photos) among them (GET
        /v3/avatars/looks, with the `model` each needs; needs HEYGEN_API_KEY)."""
        if vendor == "heygen":
            from nbvideo.providers.heygen import list_avatars

            return run_sync(list_avatars())
        if vendor != "local":
            raise InvalidInput(f"vendor={vendor!r}: presenter avatars come from 'local' or "
                               "'heygen'")
        from nbvideo.providers.local.presenter import AVATARS

        return pd.DataFrame([{"avatar": k, "name": a.title, "model": "local-presenter"}
                             for k, a in AVATARS.items()])

    def presenter_voices(self, vendor: str = "local") -> pd.DataFrame:
        """The voices `present(voice=...)` can use: our offline voice names, or HeyGen's
        voices (GET /v3/voices; needs HEYGEN_API_KEY)."""
        if vendor == "heygen":
            from nbvideo.providers.heygen import list_voices

            return run_sync(list_voices())
        if vendor != "local":
            raise InvalidInput(f"vendor={vendor!r}: presenter voices come from 'local' or "
                               "'heygen'")
        from nbvideo.providers.voices import VOICES

        return pd.DataFrame([{"voice": v.name, "name": v.title, "model": "local-presenter"}
                             for v in VOICES.values()])

    def reorder(self, order: Sequence[str | int]) -> SceneList:
        """Put the scenes in this order (every scene once, by id or number); takes stay."""
        scene_ops.reorder(self._rt, list(order))
        return self.scenes

    def move_scene(self, ref: str | int, to: int) -> SceneList:
        """Move one scene to 1-based position `to`; the others keep their order."""
        scene_ops.move(self._rt, ref, to)
        return self.scenes

    def add_scene(self, after: str | int | None = None, **fields: Any) -> SceneHandle:
        """Insert a new scene after `after` (default: at the end) with the given fields."""
        return SceneHandle(self, scene_ops.add(self._rt, after, **fields).id)

    def duplicate_scene(self, ref: str | int) -> SceneHandle:
        """Copy a scene (its text and chosen takes) right after it."""
        return SceneHandle(self, scene_ops.duplicate(self._rt, ref).id)

    def delete_scene(self, ref: str | int) -> str:
        """Remove a scene (archived with its takes; bring it back with restore_scene)."""
        return scene_ops.delete(self._rt, ref).id

    def restore_scene(self, scene_id: str, to: int | None = None) -> SceneHandle:
        """Bring back a deleted scene with its takes (at position `to`, else where it was)."""
        return SceneHandle(self, scene_ops.restore(self._rt, scene_id, to).id)

    def regenerate_frame(self, ref: str | int, prompt: str | None = None, *,
                         force: bool = False, seed: int | None = None) -> Take:
        """A new frame take for one scene; unchanged inputs reuse the cached take unless force."""
        return selection.new_frame(self._rt, ref, prompt, force, seed)

    def choose_take(self, ref: str | int, take_id: str) -> SceneHandle:
        """Make `take_id` (a frame or clip take of the scene) the one the export uses."""
        return SceneHandle(self, scene_ops.choose_take(self._rt, ref, take_id).id)

    def takes(self, ref: str | int | None = None) -> pd.DataFrame:
        """Every take (frame and clip) of one scene or of all scenes, newest last."""
        from nbvideo.handles import takes_table

        scenes = [scene_ops.resolve(self._rt, ref)] if ref is not None else self._rt.state.scenes
        return takes_table(scenes, self.path)

    def import_clip(self, ref: str | int, path: str | os.PathLike[str]) -> Take:
        """Use your own video file as scene `ref`'s clip: copied into the project
        (assets/clips/imported/), checked to play as a video, added as a new clip take and
        chosen. Free (a ledger row at cost 0); `generate_clips()` keeps it; undo goes back.

        `path` is inside the project folder (relative to it) or absolute (copied in). Refused,
        with nothing copied: a symlink, a '..' part, not a video (.mp4 .mov .m4v .mkv .webm
        that decodes), shorter than 0.5 s, over 4 GB. A clip longer than its scene is trimmed
        to it on the timeline (`p.trim` picks the part). A source above 1080p gets a 540p
        editing proxy in the background (the views play it; `p.takes()` says which have one);
        exports always read the original, so a 4K import can be exported at
        ``resolution="2160p"``.

        Example: ``p.import_clip(2, "/footage/drone-4k.mp4")``"""
        from nbvideo.generate.imports import import_clip

        return import_clip(self._rt, ref, path)

    def use_asset(self, asset: Any, as_: str = "frame", *,
                  scene: str | int | None = None) -> Any:
        """Use an asset from the asset library (`nv.assets(root)`): an Asset, or its id
        ``"asset:3fa9c2d1e0ab"`` (looked up in the library of the folder holding the project,
        a workspace's). It is copied into the project (assets/library/; a clip to
        assets/clips/imported/), so the project stays whole without the library, and each
        export lists it in its record's `assets`.

        - ``as_="frame"``: an image as scene `scene`'s frame, a free take, chosen;
          `p.storyboard()` keeps it and `p.generate_clips()` animates it (image-to-video).
        - ``as_="clip"``: a clip as the scene's clip, as `p.import_clip`: no generation, no
          cost (a ledger row at $0).
        - ``as_="music"``: music (or any sound) as the export's music bed, as
          ``p.finish(music=asset)``.

        Overlays take an asset where they take a path: ``p.timeline.add_image(logo, ...)``,
        ``add_clip``, ``add_audio``. Example: ``p.scene(2).use_asset(logo, as_="frame")``"""
        from nbvideo.generate import library as library_use

        if as_ not in ("frame", "clip", "music"):
            raise InvalidInput(f"as_ must be 'frame', 'clip' or 'music', got {as_!r}")
        if as_ == "music":
            if scene is not None:
                raise InvalidInput("scene: music is for the whole film; leave scene out")
            return self.finish(music=asset)
        if scene is None:
            raise InvalidInput(f"scene: as_={as_!r} needs the scene (its number or id), "
                               f"e.g. p.scene(2).use_asset(asset, as_={as_!r})")
        if as_ == "frame":
            return library_use.use_frame(self._rt, scene, asset)
        return library_use.use_clip(self._rt, scene, asset)

    def lip_sync(self, ref: str | int, voice: str | os.PathLike[str] = "line", *,
                 model: str | None = None, budget_usd: float | None = None,
                 timeout_s: float = clips_phase.DEFAULT_TIMEOUT_S) -> Job[Take]:
        """Start making the person in a scene's clip say a line; returns a Job at once. Its
        result is a new clip take, chosen when it is made, with the line in its own audio
        (the export then hears the line from the clip, once). A refusal (no clip, a line
        that does not fit, the budget) comes at once; `job.cancel()` cancels the prediction.

        Example: ``p.lip_sync(2).wait()`` or ``await p.lip_sync(2, voice="takes/line2.wav")``

        Parameters
        ----------
        voice : "line" (the scene's voice_line, spoken by the voice-over's voice, cached as
            the export's lines are) or the path of a recorded WAV/MP3/M4A (inside the
            project, or copied in); it must fit the scene after the line's 0.15 s lead.
        model : "lipsync-2" (Replicate, sync.) or "local-lipsync" (offline: local
            animatics of a drawn figure only). Default: lipsync-2 where the project has
            Replicate, else local-lipsync.
        budget_usd : caps this call (the project's budget always holds too).
        timeout_s : a prediction still running after it is canceled.
        """
        from nbvideo.render.lipsync import lip_sync

        scene = scene_ops.resolve(self._rt, ref)
        return lip_sync(self._rt, scene.id, voice, model=model, budget_usd=budget_usd,
                        timeout_s=timeout_s)

    # ------------------------------------------------------------------ clips
    @_shows_as_grid
    def generate_clips(self, scenes: Sequence[str | int] | None = None, *,
                       model: str | None = None, policy: str = routing.DEFAULT_POLICY,
                       fallback: bool | Sequence[str] | None = None, retries: int = 2,
                       timeout_s: float = clips_phase.DEFAULT_TIMEOUT_S,
                       budget_usd: float | None = None,
                       stretch: bool | None = None) -> Job[list[Take]]:
        """Start one clip per scene (default: those missing or out of date); returns a Job at once.

        Wait with `await job` in a notebook or `job.wait()` in a script.
        Example: ``p.generate_clips(model="auto", policy="quality", budget_usd=5).wait()``

        Parameters
        ----------
        model : a catalog video model for this call (default: the project's), or "auto" to
            pick per scene by `policy`: "complexity" (the default: the quality tier the
            scene's complexity profile needs, the cheapest healthy model of it, preferring
            durations that fit, stepped down where the budget would run out), "cheapest"
            (lowest cost that can make the scene's duration, aspect and resolution) or
            "quality" (highest tier, then cheapest). A model pinned for a scene
            (``p.edit_scene(n, video_model=...)``) or the project (``p.use_models``) wins
            over "auto"; ``p.estimate(model="auto")`` shows each scene's reason.
        fallback : where a scene goes when its model fails after `retries`: True for the
            next model by `policy`, or a list of model names. Default: True for "auto",
            False for a named model.
        retries : extra predictions on the same model for a failed prediction or a
            transient API error.
        timeout_s : per prediction; one still running after it is canceled and fails over.
        budget_usd : caps what this call may spend (the project's `budget_usd` always holds
            too); a clip that would pass either is refused before its request is sent.
        stretch : True: a clip up to 1.25x shorter than its scene is made at that length and
            slowed to fill the scene (motion-interpolated where affordable, see
            ``nbvideo.media.stretch``) where that costs less than the next length up; False:
            the next length up, trimmed. Recorded on the project (``stretch_clips``) so the
            estimate and later runs agree; None (default): the project's setting (False).
        """
        opts = ClipOptions.check(budget_usd=budget_usd, retries=retries, timeout_s=timeout_s)
        self._set_stretch(stretch)
        chains = selection.clip_chains(self._rt, scenes, model, policy, fallback,
                                       lambda: self.costs, stacklevel=3,
                                       budget_usd=opts.budget_usd)
        return clips_phase.start_clip_job(self._rt, chains, budget_usd=opts.budget_usd,
                                          retries=opts.retries, timeout_s=opts.timeout_s)

    def provider_health(self) -> pd.DataFrame:
        """Failure rate and latency per provider and model over their recent calls (from the
        ledger, and from other projects on this machine in the last day: see
        store/engine_log.py), and `slowness`, the median latency against what the model
        usually takes; `healthy` False or `slow` True means model="auto" routes around it."""
        from nbvideo.generate.health import health_table

        return health_table(self._rt.ledger.health_rows(),
                            expected=self._rt.providers.typical_latency_s)

    @_shows_as_grid
    def regenerate_clip(self, ref: str | int, prompt: str | None = None, *,
                        force: bool = False, seed: int | None = None,
                        model: str | None = None,
                        policy: str = routing.DEFAULT_POLICY) -> Job[list[Take]]:
        """A new clip take for one scene (new prompt, or force=True for a fresh seed).
        `model="auto"` routes the scene by `policy` as `generate_clips` does."""
        scene_id, chains = selection.clip_again(self._rt, ref, prompt, force, seed, model,
                                                  lambda: self.costs, 3, policy)
        return clips_phase.start_clip_job(self._rt, chains, name=f"clip {scene_id}")

    # ------------------------------------------------------------------ timeline / export
    @property
    def timeline(self) -> TimelineView:
        """The timeline as a table: order, clip, in/out points, start/end and transitions."""
        return TimelineView(self)

    def trim(self, ref: str | int, in_s: float | None = None, out_s: float | None = None) -> None:
        """Keep [in_s, out_s) of the scene's clip, in seconds from the clip's start."""
        timeline_ops.trim(self._rt, ref, in_s, out_s)

    def set_transition(self, ref: str | int, kind: str = "cut", duration_s: float = 0.0) -> None:
        """How scene `ref` hands over to the next: 'cut', or a transition of duration_s
        seconds: 'crossfade', any ffmpeg xfade name ('wipeleft', 'slideup', 'circleopen',
        'pixelize', ...), 'dip_black', 'dip_white' or 'whip'. `nv.transitions()` lists them
        with a strip each; an unknown name is refused with the close ones."""
        timeline_ops.set_transition(self._rt, ref, kind, duration_s)

    def set_transitions(self, kind: str = "crossfade", duration_s: float = 0.5) -> None:
        """The same transition at every cut (one step in the history: one undo). Checked as
        a whole first: a refused value changes no cut."""
        rec = self._rt.history
        with self._rt.guard, (rec.labelled("transition", summary=f"every cut: {kind} "
                                           f"{duration_s} s"[:120]) if rec else nullcontext()):
            timeline_ops.set_all_transitions(self._rt, kind, duration_s)

    def export(self, name: str = "ad", formats: Sequence[str] | str = ("16:9",), *,
               preset: str | Sequence[str] | None = None, accept: bool | Sequence[str] = (),
               resolution: str | None = None, fit: str = "crop",
               on_progress: Callable[[float], None] | None = None,
               cancel: threading.Event | None = None, smart: bool = True,
               require_approval: bool = False) -> Exports:
        """Render the timeline to one MP4 per aspect (or per platform preset) in exports/.

        `preset="reels"` (or several: ``["tiktok", "youtube"]``) takes the platform's size,
        fps, bitrate and loudness and checks its rules first: too long, text outside the safe
        area, no audio. Errors stop the export; warnings do too unless accepted, by code
        (``accept=["no_audio"]``) or all (``accept=True``). Finishing set with `p.finish()`
        (brand, voice-over, music, captions) applies to every output. Each export gets a
        poster, a GIF preview and, with captions, SRT and WebVTT sidecars.
        `on_progress(fraction)` follows the render over all outputs; setting `cancel` stops it.
        Exports are smart by default: untouched stretches are copied from clips normalized
        once per format (cached in cache/smart/, safe to delete) and only cuts, crossfades and
        captions are re-encoded; `smart=False` forces one full re-encode. Each record's
        `render` says which ran and what was copied or encoded.
        `require_approval=True` refuses, naming them, while any scene is not approved.
        `resolution` is "720p", "1080p" or "2160p" (16:9 at 3840x2160, 9:16 at 2160x3840;
        default: the brief's). At 2160p, scenes whose clips would be upscaled stop the export
        with the `upscaled` warning naming them; ``accept=["upscaled"]`` exports anyway.
        """
        if require_approval:
            with self._rt.guard:
                approvals.require_approved(self._rt.state)
        records = export_phase.export(self._rt, name, formats,
                                      resolution or self._rt.state.brief.resolution, fit,
                                      cancel=cancel, on_progress=on_progress, presets=preset,
                                      accept=accept, smart=smart)
        return Exports(self.path, records)

    def finish(self, **settings: Any) -> Finishing:
        """Set how exports are finished: brand=, voice=, voice_model=, voice_fit=, music=,
        music_ending= ('beat', 'film'), captions=, caption_style= ('lines', 'karaoke',
        'pop-in', 'boxed'), scene_text=, logo=, end_card= (see
        `nbvideo.model.state.Finishing`). Saved with
        the project. `voice_fit="speed"` plays a voice line that is longer than its scene up
        to 1.5x faster; the default stops the export with the three ways to fit it.
        `music_ending="beat"` (the default) stops the music on a beat after the last spoken
        word; "film" fades it out with the film's end instead.
        Offline frames follow it: clean (no board marks) while the export burns text, and
        without the look's logo while it watermarks the kit's; the next `p.storyboard()`,
        `p.generate_clips()` or `p.export()` redraws them and their animatics, free.

        `music=` also takes an asset of the asset library (an Asset or "asset:<id>"): it
        is copied into the project first (see `use_asset`).

        Example: ``p.finish(brand="trailhead", voice="narrator-f", music="bed")``
        """
        from nbvideo.generate import library as library_use

        if library_use.is_ref(settings.get("music")):
            with library_use.brought_in(self._rt, settings["music"], "music",
                                        "finish: music") as rel:
                return finishing.finish(self._rt, {**settings, "music": rel})
        return finishing.finish(self._rt, settings)

    def set_look(self, off: bool = False, **settings: Any) -> Look | None:
        """Set the look every frame is made with: style_words=, palette=, seed=, product=,
        reference_image=, logo= (see `nbvideo.model.look.Look`). Unset fields start from the brief,
        the answers and the brand kit set with `p.finish(brand=...)` (its palette and logo).
        `off=True` removes it; `template="pack/name"` starts from a template pack's look
        (``nv.template_packs()``). Frames whose request changes are remade by `p.storyboard()`.

        Example: ``p.set_look(product="grey trail shoe", reference_image="shoe.png")``
        """
        return finishing.set_look(self._rt, off, settings)

    @property
    def look(self) -> Look | None:
        """The project look (None: frames use the planner's palette and no logo)."""
        return self._rt.state.look

    def set_music_file(self, data: bytes, filename: str) -> Finishing:
        """Use your own music: `data` (the file's bytes) is kept under assets/music/user/ and
        set as the export's music once it decodes as audio. A file that is not audio (or is
        empty, too large, or shorter than half a second) is refused and nothing changes.

        Example: ``p.set_music_file(Path("song.mp3").read_bytes(), "song.mp3")``;
        ``p.finish(music="bed")`` goes back to the generated bed."""
        from nbvideo.sound.music_files import store_music

        upload = FileUpload.check(data=data)
        rel = store_music(self._rt, str(filename), upload.data)  # decoded outside the lock
        return self.finish(music=rel)

    @property
    def music(self) -> Any:
        """What the export puts under the picture: a MusicInfo (source none/bed/file, name,
        path, duration_s, loops)."""
        return finishing.music(self._rt)

    # ------------------------------------------------------------------ sound effects
    def sound_effects(self) -> pd.DataFrame:
        """The effects this project can place: the built-in ones (``nv.sound_effects()``)
        and those imported with `import_sound_effect`; name, duration_s, description, tags,
        source."""
        from nbvideo.sound import sfx

        return sfx_table(sfx.library(self._rt))

    def import_sound_effect(self, path: str | os.PathLike[str], name: str, *,
                            description: str = "", tags: Sequence[str] = ()) -> Any:
        """Copy your own effect (WAV, MP3, M4A, AAC, OGG, Opus or FLAC; at most 20 MB and
        30 s) into the project as `name`, for `add_sound_effect`. A file that is a symlink,
        not audio, silent or too long is refused and nothing is copied.

        Example: ``p.import_sound_effect("sounds/door.wav", name="door", tags=["foley"])``"""
        from nbvideo.sound import sfx

        return sfx.import_effect(self._rt, path, name=name, description=description,
                                 tags=list(tags))

    def add_sound_effect(self, name: str, at: float, gain_db: float = 0.0, *,
                         fade_in_s: float = 0.0, fade_out_s: float = 0.0) -> Any:
        """Place an effect (``p.sound_effects()`` lists them) at `at` seconds on the film;
        `gain_db` is relative to its reference level (as loud as the voice). Saved; the
        next export mixes it in, under the same loudness target. Returns the placed SfxCue.

        Example: ``p.add_sound_effect("whoosh", at=2.0, gain_db=-3)``"""
        from nbvideo.sound import sfx

        return sfx.add_cue(self._rt, name, at=at, gain_db=gain_db, fade_in_s=fade_in_s,
                           fade_out_s=fade_out_s)

    def sound_effects_used(self) -> pd.DataFrame:
        """The effects placed on the film, in time order: id, effect, start_s, end_s,
        gain_db, fades, and plays (False for one that starts after the film ends)."""
        from nbvideo.sound import sfx

        kit = self._rt.brand_kit()
        card = kit.end_card.duration_s if kit is not None and \
            self._rt.state.finishing.end_card else 0.0
        cols = ["id", "effect", "start_s", "end_s", "gain_db", "fade_in_s", "fade_out_s",
                "plays"]
        film = self.timeline.duration_s or self._rt.state.brief.duration_s  # none yet: planned
        return pd.DataFrame(sfx.cue_rows(self._rt, film + card),
                            columns=cols)

    def remove_sound_effect(self, cue: str | int) -> Any:
        """Take a placed effect off the film, by its id or its 1-based row in
        `sound_effects_used()`. Returns the removed SfxCue."""
        from nbvideo.sound import sfx

        return sfx.remove_cue(self._rt, cue)

    def line_fits(self) -> dict[str, Any]:
        """How each scene's voice line fits its scene, by scene id: a LineFit with words,
        max_words, voice_s (measured once the line is spoken, else estimated), over_s and
        fits. Speaks nothing."""
        return finishing.fits(self._rt)

    def voice_words(self) -> pd.DataFrame:
        """When each word of the voice-over is said, one row per word of every line already
        spoken (p.export() speaks them): scene, number, word_index, word, start_s and end_s
        (in the line), film_start_s and film_end_s (on the exported film), and timings:
        'provider' where the voice model reported them (ElevenLabs), 'estimated' where they
        were found from the audio (espeak-ng, OpenAI). Speaks nothing.

        Example: ``p.voice_words().query("number == 2")``"""
        cols = ["scene", "number", "word_index", "word", "start_s", "end_s", "film_start_s",
                "film_end_s", "timings", "provider", "model"]
        return pd.DataFrame(finishing.words(self._rt), columns=cols)

    def caption_cues(self) -> list[Any]:
        """The captions an export at the project's fps burns in, with the export's timing
        (each spoken line's real length once it is made, an estimate before). Empty when
        captions are off or there is no voice-over."""
        return finishing.cues(self._rt)

    def review_sheet(self, per_page: int = 6) -> Any:
        """A PDF and a PNG contact sheet of the storyboard for client sign-off, in exports/:
        frames, scene numbers, durations, on-screen text, voice lines, cost, review status
        and the latest comments per scene."""
        with self._rt.guard:
            return signoff.sheet(self._rt, self.costs, per_page)

    # ------------------------------------------------------------------ clip QA
    @property
    def qa(self) -> pd.DataFrame:
        """Automatic QA of every clip take checked so far: passed, the problems found, and
        the measurements (duration, size, longest black and frozen stretches, audio)."""
        return qa_phase.qa_table(self._rt.state)

    def set_qa_policy(self, mode: str, retries: int | None = None) -> QAPolicy:
        """What a clip failing QA does: 'off' (no QA), 'warn' (keep it, flagged in `p.qa`),
        or 'retry' (new takes with new seeds, up to `retries`, within budget). Saved."""
        return qa_phase.set_policy(self._rt, mode, retries)

    def check_clips(self, recheck: bool = False) -> pd.DataFrame:
        """QA the current clips not checked yet (all of them with `recheck`); returns `p.qa`.
        Clips made before QA existed, or with the policy off, get checked this way."""
        selection.check_clips(self._rt, recheck)
        return self.qa

    # ------------------------------------------------------------------ delivery
    @property
    def metadata(self) -> Metadata:
        """Upload metadata for the packages: what was set with `set_metadata`, else a draft
        from the storyboard, brief and brand kit."""
        return signoff.metadata(self._rt)

    def set_metadata(self, **fields: Any) -> Metadata:
        """Edit the upload metadata: title=, description=, hashtags=[...], cta=, link=.
        Fields not given keep their value (drafted ones become saved ones)."""
        return signoff.set_metadata(self._rt, fields)

    def thumbnails(self, export: Any = None, n: int = 6, *, product: Any = None) -> Any:
        """Thumbnail candidates from an export (default the newest; or its path, preset or
        aspect): `n` frames, best first and spread over the film, each scored for
        sharpness, exposure and how much it shows the product (the look's reference_image,
        or `product=` a photo in the project; `product=False` for none: the storyboard's
        product beat stands in). Frames in a transition, by a cut, on the end card or
        mid-fade are left out. In a notebook a grid of the frames with their scores;
        `.to_pandas()` the table. Pick one with ``p.package(..., thumbnail=index)``.

        Example: ``t = p.thumbnails(n=4); p.package(["youtube"], thumbnail=t[0])``
        """
        from nbvideo.deliver import thumbnails

        found = thumbnails.thumbnails_for(self._rt, export, n, product)
        self._thumbnails = found
        return found

    def package(self, presets: Sequence[str] | str, name: str = "ad", *,
                accept: bool | Sequence[str] = (), thumbnail: Any = None,
                thumbnail_text: str | None = None) -> pd.DataFrame:
        """One folder and zip per platform in packages/: the video, poster, SRT and VTT
        captions, and the upload form's fields as metadata.json and upload.txt. Metadata is
        checked against each platform's limits before anything renders; nothing is uploaded.
        `accept` goes to `export` (its preset checks).

        `thumbnail` chooses the poster: a candidate of `p.thumbnails()` (or its index in
        the list last returned), a time in seconds as a float (``2.0``; an int is an
        index), or your own picture's path (PNG, JPEG or WebP, at least 640x360; copied into
        assets/thumbnails/). A frame gets `thumbnail_text` (default the metadata's title;
        '' for none) in the brand kit's style, at each platform's size (YouTube 1280x720
        <= 2 MB, Instagram 1080x1920 <= 8 MB); TikTok and Instagram get the frame's time as
        their cover (video_cover_timestamp_ms, thumb_offset). metadata.json records it.
        A bad choice is refused (ThumbnailRefused) before anything renders. With no
        `thumbnail`, the poster is the best candidate of the export the packages ship.

        Example: ``p.package(["youtube", "reels"], thumbnail=2.5, thumbnail_text="Rain-proof")``
        """
        return signoff.package(self._rt, presets, name,
                               lambda ps: list(self.export(name, preset=ps, accept=accept)),
                               thumbnail, thumbnail_text,
                               lambda: self._thumbnails if self._thumbnails is not None
                               else self.thumbnails())

    # ------------------------------------------------------------------ publishing
    def publish(self, platform: str, package: str | None = None, when: Any = None, *,
                again: bool = False) -> Post:
        """Post a distribution package (see `package`) to `platform`: "youtube", "tiktok",
        "instagram", "facebook", or "dry-run" (a platform on the local disk that needs no
        account, to rehearse). `package` is a folder name in packages/ (default the newest
        made for the platform); `when` (a datetime with its zone, or ISO 8601 text such as
        "2026-12-24T09:00+01:00") schedules it instead (see `schedule`).

        The package is checked against the platform's limits first (size, duration, aspect,
        title, caption, hashtags). Every step the platform remembers is saved on the post,
        so after a dropped connection or a killed kernel, publishing again resumes the same
        upload; the same package already posted is that post, never a second (`again=True`
        posts it anew). Returns the post; `p.posts` lists them all."""
        from nbvideo.deliver import publish as publishing

        with self._rt.acting("publish", f"{platform} {package or ''}".strip()):
            post = publishing.publish(self.path, platform, package, when, again=again)
        self._rt.audit("publish", detail=f"{post.id} {post.platform} {post.package}: "
                                         f"{post.status}")
        return post

    def schedule(self, platform: str, when: Any, package: str | None = None, *,
                 again: bool = False) -> Post:
        """Record a post for `when`; `nbvideo publish --due ROOT` (from cron, a systemd
        timer or a JupyterHub service) posts it once due. A post found more than a day late
        is marked missed and reported, not posted late. A package already posted (or
        scheduled) is that post unless `again=True`."""
        if when is None:
            raise InvalidInput("when is required to schedule a post (p.publish posts now)")
        return self.publish(platform, package, when, again=again)

    def cancel_post(self, post_id: str) -> Post:
        """Take a scheduled post off the schedule."""
        from nbvideo.deliver import publish as publishing

        with self._rt.acting("publish", f"cancel {post_id}"):
            return publishing.cancel(self.path, post_id)

    @property
    def posts(self) -> pd.DataFrame:
        """Every post of this project: platform, package, status, when, the platform's id
        and address, attempts and the last error, oldest first."""
        from nbvideo.deliver import publish as publishing

        return publishing.posts_table(self.path)

    def performance(self, refresh: bool = True) -> pd.DataFrame:
        """How this project's posted videos are doing: one row per posted post with views,
        watch time, retention, click-through, likes, shares, comments and spend from each
        platform's analytics (NaN where a platform does not give a number). `refresh=False`
        shows the numbers last saved, offline. See `nv.performance`.

        >>> p.performance()[["platform", "views", "retention"]]  # doctest: +SKIP
        """
        from nbvideo.deliver.performance import performance

        return performance(self.path, refresh)

    @property
    def exports(self) -> Exports:
        """Every export made so far, oldest first, with its files and how it was rendered."""
        return Exports(self.path, list(self._rt.state.exports))

    # ------------------------------------------------------------------ history
    @property
    def user(self) -> str:
        """Who the history and comments name: NBVIDEO_USER or the OS user unless set here."""
        rec = self._rt.history
        return rec.user if rec is not None else default_user()

    @user.setter
    def user(self, name: str) -> None:
        name = check_user(name)
        if self._rt.history is not None:
            self._rt.history.user = name

    @property
    def history(self) -> pd.DataFrame:
        """Every change, oldest first: id, time, user, kind, summary, scenes, fields, target,
        snapshot, undone, note and the before/after of each changed field (`changes`)."""
        with self._rt.guard:  # not while a background job is appending a line
            evs = versions.events(self._rt)
        return versions.history_table(evs)

    def undo(self, *, missing_ok: bool = False) -> HistoryEvent:
        """Take the last change back (takes, comments and exports stay; only what is current
        changes). Undo again to go further back; p.redo() walks forward again."""
        return versions.undo(self._rt, missing_ok)

    def redo(self, *, missing_ok: bool = False) -> HistoryEvent:
        """Make the last undone change again (until a new change drops the redo steps)."""
        return versions.redo(self._rt, missing_ok)

    @property
    def undo_redo(self) -> versions.UndoRedo:
        """What p.undo() and p.redo() would do now (summaries of those changes, or None)."""
        with self._rt.guard:
            return versions.next_steps(self._rt)

    def snapshot(self, name: str, note: str = "") -> HistoryEvent:
        """Name the state as it is now, e.g. p.snapshot("sent-to-client"), to restore later."""
        return versions.snapshot(self._rt, name, note)

    def restore(self, ref: str | int, *, missing_ok: bool = False) -> HistoryEvent:
        """Go back (or forward) to a snapshot by name or to the state after a history event
        by id. It is itself a change: p.undo() takes it back. Refuses, naming them, when the
        state's frames, clips or music are missing, unless missing_ok=True."""
        return versions.restore(self._rt, ref, missing_ok)

    def diff(self, a: str | int | None, b: str | int | None = None) -> versions.StateDiff:
        """Scenes added, removed and changed (with their fields) from state `a` to `b`
        (snapshot names or event ids; None is the project now)."""
        return versions.compare(self._rt, a, b)

    # ------------------------------------------------------------------ approvals
    def comment(self, scene: str | int, text: str, *, author: str | None = None) -> Comment:
        """Add a comment (author: p.user unless given, time: now) to a scene; its status stays.
        `author` is a display name (the board passes a live collaborator's), never a role."""
        who = self.user if author is None else check_user(author)
        return signoff.review(self._rt, scene, "comment", who, text)

    def submit_for_review(self, scene: str | int, text: str | None = None) -> Comment:
        """Mark a scene in review (from draft or changes requested)."""
        return signoff.review(self._rt, scene, "submit", self.user, text)

    def approve(self, scene: str | int, text: str | None = None) -> Comment:
        """Approve a scene. Editing it later moves it back to draft, with a note saying why."""
        return signoff.review(self._rt, scene, "approve", self.user, text)

    def request_changes(self, scene: str | int, text: str) -> Comment:
        """Ask for changes to a scene; `text` says which."""
        return signoff.review(self._rt, scene, "request_changes", self.user, text)

    @property
    def review(self) -> pd.DataFrame:
        """Per scene: number, id, title, review status, comment count and the last comment."""
        return signoff.review_table(self._rt.state)

    @property
    def comments(self) -> pd.DataFrame:
        """Every comment and review note, oldest first, with scene, author, time and kind."""
        return signoff.comments_table(self._rt.state)

    # ------------------------------------------------------------------ costs / status
    def _set_stretch(self, stretch: bool | None) -> None:
        if stretch is not None and not isinstance(stretch, bool):
            raise InvalidInput(f"stretch must be True, False or None, got {stretch!r}")
        if stretch is not None and stretch != self._rt.state.stretch_clips:
            with self._rt.guard:
                self._rt.state.stretch_clips = stretch
                self._rt.save()

    def estimate(self, model: str | None = None, policy: str = routing.DEFAULT_POLICY, *,
                 stretch: bool | None = None) -> pd.DataFrame:
        """What clips would cost per scene on `model` (default: the project's; "auto" picks
        per scene by `policy`, as generate_clips would), with the total on top.

        Nothing is spent. Scenes whose clip is already current cost 0 (re-running reuses it).
        `reason` says why each scene got its model; `wasted_s` is paid seconds the timeline
        does not keep (the total row says what share of paid seconds is kept).
        `stretch=True` prices a clip up to 1.25x shorter than its scene, slowed to fill it
        (see generate_clips), where that is cheaper than the next length up; None (default):
        as the project's setting, i.e. as generate_clips would. Nothing is recorded.
        """
        if stretch is not None and not isinstance(stretch, bool):
            raise InvalidInput(f"stretch must be True, False or None, got {stretch!r}")
        return selection.estimate(self._rt, model, policy, lambda: self.costs,
                                  self._rt.state.stretch_clips if stretch is None else stretch)

    def use_models(self, **models: str) -> dict[str, str]:
        """Pick catalog models per kind, e.g. p.use_models(video="kling-v2.1"); None resets one.

        Takes already made are kept; the next generate_clips() makes clips with the new model
        (scenes whose clip came from another model are out of date).
        """
        return self._rt.use_models(dict(models))

    @property
    def models(self) -> dict[str, str]:
        """The model used for each kind (text, image, video)."""
        p = self._rt.providers
        return {"text": p.planner.model, "image": p.frames.model, "video": p.video.model}

    @property
    def budget_usd(self) -> float | None:
        """The project's spending cap in dollars (None: no cap); every paid call holds to it."""
        return self._rt.state.budget_usd

    @budget_usd.setter
    def budget_usd(self, value: float | None) -> None:
        self._rt.set_budget(check_budget(value))

    @property
    def spent_usd(self) -> float:
        """Actual spend so far, from the ledger."""
        return self._rt.spent_usd()

    @property
    def costs(self) -> pd.DataFrame:
        """Every provider call: time, phase, scene, take, provider, model, units, cost, ..."""
        return self._rt.ledger.to_pandas()

    def cost_summary(self) -> pd.DataFrame:
        """Calls, cache hits, spend and time grouped by phase, provider and model."""
        return summarize(self.costs)

    def run(self, *, model: str | None = None, policy: str = routing.DEFAULT_POLICY,
            budget_usd: float | None = None) -> Exports | None:
        """Run every phase that is not done yet (as `nbvideo run` does); `model`, `policy`
        and `budget_usd` go to generate_clips."""
        self.storyboard()
        job = self.generate_clips(model=model, policy=policy, budget_usd=budget_usd)
        job.wait()
        if not self._rt.state.exports:
            return self.export("ad", formats=[self._rt.state.brief.aspect])
        return self.exports

    def status(self) -> pd.DataFrame:
        """Each phase (questions, storyboard, clips, export), whether it is done, and what is left."""
        return pd.DataFrame(phase_status(self._rt.state), columns=["phase", "done", "detail"])

    def cost_chart(self) -> Figure:
        """Spend by phase, model and scene as a matplotlib figure (`.savefig("x.png")`)."""
        st = self._rt.state
        labels = {s.id: f"{i}. {s.title or s.beat}"[:28] for i, s in enumerate(st.scenes, 1)}
        return charts.cost_chart(self.costs, labels, title=st.name)

    def on_change(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call `fn()` after every save of the project; returns a function that unsubscribes.

        Live views use it to follow edits made from any cell. `fn` runs in the saving thread
        (maybe a background one) with the project locked: it should only take note.
        """
        return self._rt.subscribe(fn)

    def __repr__(self) -> str:
        st = self._rt.state
        return (f"<nbvideo.Project {st.name!r}: {st.brief.duration_s:g}s {st.brief.aspect} "
                f"{st.brief.resolution}, {len(st.scenes)} scenes, providers={st.providers!r}>")

    def _repr_html_(self) -> str:
        st = self._rt.state
        if st.scenes:
            return views.storyboard_html(self.path, st.storyboard_title or st.name, st.scenes,
                                         st.brief.duration_s)
        return f"<code>{views.html.escape(repr(self))}</code>"
