"""Project: the one object a notebook holds — a thin facade over the pipeline and the store.

>>> import nbvideo as nv
>>> p = nv.Project.open("projects/trail-shoe", brief="30s ad for a waterproof trail shoe")
>>> p.answer(audience="weekend hikers")                                  # doctest: +SKIP
>>> p.storyboard(); p.generate_clips().wait(); p.export("ad", formats=["9:16"])  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from nbvideo import charts, views
from nbvideo.edit import timeline as timeline_ops
from nbvideo.edit import versions
from nbvideo.edit.timeline import MAX_CROSSFADE_S, MIN_KEPT_S
from nbvideo.errors import (
    InvalidInput,
    PathEscape,
    PhaseNotReady,
    ProjectNotFound,
    RoutingWarning,
    from_validation,
    quote,
)
from nbvideo.generate import clips as clips_phase
from nbvideo.handles import (
    Exports,
    Questions,
    SceneHandle,
    SceneList,
    TimelineView,
)
from nbvideo.model import approvals
from nbvideo.model.brief_length import length_note, stated_duration
from nbvideo.model.checked import as_finite
from nbvideo.model.checked import budget as check_budget
from nbvideo.model.look import Look
from nbvideo.model.state import (
    Brief,
    Comment,
    Finishing,
    Metadata,
    ProjectState,
    QAPolicy,
    Scene,
    Take,
)
from nbvideo.model.templates import get_template
from nbvideo.overview import phase_status
from nbvideo.plan import questions as questions_phase
from nbvideo.plan import routing
from nbvideo.plan import scenes as scene_ops
from nbvideo.plan import storyboard as storyboard_phase
from nbvideo.providers import lifecycle, provider_set
from nbvideo.providers.catalog import ModelSpec, get_model
from nbvideo.render import export as export_phase
from nbvideo.render.export import FITS
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.jobs import Job, JobEvent, run_sync
from nbvideo.sound.music_files import AUDIO_SUFFIXES
from nbvideo.store.folder import ProjectStore, slug_path
from nbvideo.store.history import HistoryEvent, check_user, default_user
from nbvideo.store.ledger import Ledger, summarize

__all__ = [
    "Project",
    # The types and limits a view of a project needs (the widgets use these, never the phases):
    "AUDIO_SUFFIXES", "FITS", "MAX_CROSSFADE_S", "MIN_KEPT_S", "Job", "JobEvent", "ModelSpec",
    "get_model",
]

log = logging.getLogger(__name__)

_OPEN_OPTIONS = ("brief", "aspect", "duration_s", "resolution", "fps", "providers", "models",
                 "seed", "budget_usd", "read_only", "template")


@dataclass(eq=False)
class _Live:
    """A project open for writing in this process, and how many handles hold it open."""

    rt: Runtime
    handles: int = 1


# One live project per folder per process, keyed by the resolved folder (symlinks meet).
# Held weakly: an entry lives while a handle or its Runtime (e.g. in a running Job) does.
_LIVE: weakref.WeakValueDictionary[Path, _Live] = weakref.WeakValueDictionary()
_LIVE_GUARD = threading.RLock()


def _live_entry(root: Path) -> _Live | None:
    """The live project of this folder, if it is still the one on disk. When project.json was
    changed behind it (a restore, another program), the next open reads the disk afresh;
    handles on the old one keep refusing to save (ProjectStale) rather than overwrite."""
    key = root.resolve()
    live = _LIVE.get(key)
    if live is None:
        return None
    if not live.rt.store.is_current():
        del _LIVE[key]
        return None
    return live


def _shows_as_grid(method: Callable[..., Job[Any]]) -> Callable[..., Job[Any]]:
    """The Job a clip method returns displays as a live ClipGrid in a notebook."""

    @functools.wraps(method)
    def wrapper(self: Project, *args: Any, **kwargs: Any) -> Job[Any]:
        job = method(self, *args, **kwargs)
        job.display_hook = lambda: views.live_bundle(self, "grid", job=job)
        return job

    return wrapper


def _brief_error(exc: ValidationError) -> InvalidInput:
    """The first problem, named by field with the value given: 'aspect: ... got '21:9''
    (the brief's text is called 'brief', as Project.open's argument is)."""
    err = from_validation(exc)
    msg = str(err)
    return InvalidInput("brief" + msg[4:]) if msg.startswith(("text:", "text ")) else err


class Project:
    """An ad project on disk: brief, questions, storyboard, takes, timeline, exports, costs."""

    def __init__(self, rt: Runtime, live: _Live | None = None) -> None:
        self._rt = rt
        self._live = live  # None: a read-only handle of its own
        self._closed = False

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path: str | os.PathLike[str], brief: str | None = None, **options: Any) -> Project:
        """Create the project at `path` (its name is slugged) or reopen it with everything intact.

        Options: aspect ("16:9", "9:16", "1:1", "4:5"), duration_s (5-180; default the
        length the brief states, "15-second", ":15", "half a minute", else 30), resolution
        ("720p", "1080p"), fps, providers ("local"), seed, budget_usd, read_only, template
        (a brief template from ``nv.templates()``, e.g. "app-install": its structure,
        questions and example copy; its length and aspect unless given; its example brief
        when `brief` is omitted).

        One live project per folder per process: opening a folder that is already open here
        (a re-run cell, a second name, a symlink to it) gives a handle on the same live
        project, so an edit through either is seen by both and no save overwrites another.
        Each handle's `close()` counts; the writer lock goes when the last one closes.
        Opening needs no API keys; a paid call asks for its key when it is about to be made.
        """
        unknown = sorted(set(options) - set(_OPEN_OPTIONS))
        if unknown:
            raise TypeError(
                f"Project.open() got unexpected option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(_OPEN_OPTIONS)}"
            )
        read_only = bool(options.pop("read_only", False))
        providers = options.pop("providers", None)
        seed = options.pop("seed", None)
        budget = check_budget(options.pop("budget_usd", None))  # before any lock is taken
        models = options.pop("models", None)
        brief_opts = {k: v for k, v in options.items() if v is not None}
        store = ProjectStore(slug_path(path))
        with _LIVE_GUARD:
            live = None if read_only else _live_entry(store.root)
            if live is not None:  # the same folder is open in this process: share it
                cls._check_same(live.rt.state, brief, brief_opts, providers, seed)
                live.handles += 1
                project = cls(live.rt, live)
            else:
                project = cls._load(store, brief, brief_opts, providers, seed, budget, models,
                                    read_only)
        try:
            if models is not None and models != project._rt.state.models and not read_only:
                project.use_models(**models)
            if budget is not None and budget != project._rt.state.budget_usd:
                project.budget_usd = budget
        except BaseException:
            project.close()  # a refused option leaves this handle closed, not the folder locked
            raise
        return project

    @classmethod
    def _load(cls, store: ProjectStore, brief: str | None, brief_opts: dict[str, Any],
              providers: str | None, seed: int | None, budget: float | None,
              models: dict[str, str] | None, read_only: bool) -> Project:
        """Read (or create) the project from disk into a new live Runtime."""
        created = not store.exists()
        explicit_s = brief_opts.get("duration_s")  # before a template adds its own
        note = None
        if brief_opts.get("template") is not None and not store.exists():
            tmpl = get_template(brief_opts["template"])  # unknown names are refused, listed
            brief = tmpl.example_brief if brief is None else brief
            # the length: given, else the brief's own, else the template's
            told = stated_duration(brief) is not None
            brief_opts = {"aspect": tmpl.aspect,
                          **({} if told else {"duration_s": tmpl.duration_s}), **brief_opts}
        if brief is not None and not store.exists() and isinstance(explicit_s, int | float):
            note = length_note(brief, explicit_s)
        if store.exists():
            if not read_only:
                store.acquire()
            try:
                state = store.load()
                cls._check_same(state, brief, brief_opts, providers, seed)
            except BaseException:
                store.release()
                raise
        else:
            if read_only:
                raise ProjectNotFound(f"no nbvideo project at {store.root}")
            if brief is None:
                raise ProjectNotFound(
                    f"no nbvideo project at {store.root}; pass brief='...' to create one"
                )
            try:
                b = Brief(text=brief, **brief_opts)
                state = ProjectState(name=store.root.name, brief=b, providers=providers or "local",
                                     seed=7 if seed is None else seed, budget_usd=budget,
                                     models=models or {})
            except ValidationError as exc:
                raise _brief_error(exc) from None
            # refuse bad choices before writing; a key is asked for at the first paid call
            provider_set(state.providers, state.models, keys_now=False)
            store.root.mkdir(parents=True, exist_ok=True)
            store.acquire()
            store.make_dirs()
            store.save(state)
        # Opening needs no keys: a read-only open generates nothing (e.g. `nbvideo costs`), and
        # a writable one asks for a vendor's key only when a paid call is about to be made.
        try:
            # a model shut down since the project chose it warns here (naming its successor)
            # and is refused at its first paid call, so the project still opens to switch it
            rt = Runtime(state=state, store=store, ledger=Ledger(store.ledger_path),
                         providers=provider_set("local") if read_only
                         else provider_set(state.providers, state.models, keys_now=False,
                                           refuse_retired=created))
        except BaseException:
            store.release()
            raise
        if read_only:
            return cls(rt)
        live = _Live(rt)
        rt.keepalive = live
        _LIVE[store.root.resolve()] = live
        if created and rt.history is not None:
            rt.history.mark("create", summary=f"project {state.name!r}: {state.brief.text}"[:300])
        if note is not None:  # the explicit length won over the brief's: say so, once
            log.warning("%s: %s", state.name, note)
        return cls(rt, live)

    @staticmethod
    def _check_same(state: ProjectState, brief: str | None, opts: dict[str, Any],
                    providers: str | None, seed: int | None) -> None:
        diffs = []
        if brief is not None and " ".join(brief.split()) != state.brief.text:
            diffs.append("brief")
        for k, v in opts.items():
            if getattr(state.brief, k) != v:
                diffs.append(f"{k} ({getattr(state.brief, k)!r} on disk, {quote(v)} given)")
        if providers is not None and providers != state.providers:
            diffs.append(f"providers ({state.providers!r} on disk)")
        if seed is not None and seed != state.seed:
            diffs.append(f"seed ({state.seed} on disk)")
        if diffs:
            raise InvalidInput(
                f"the project at {state.name} already exists with a different {', '.join(diffs)}. "
                f"Reopen it with just the path, change it with p.update(...), or use a new path."
            )

    def close(self) -> None:
        """Close this handle. When it is the last open handle on the project in this
        process, the writer lock is released so another process may open it."""
        with _LIVE_GUARD:
            if self._closed:
                return
            self._closed = True
            live = self._live
            if live is not None:
                live.handles -= 1
                if live.handles > 0:
                    return
                key = self._rt.store.root.resolve()
                if _LIVE.get(key) is live:
                    del _LIVE[key]
            self._rt.store.release()

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
        return self._rt.store.root

    @property
    def name(self) -> str:
        return self._rt.state.name

    @property
    def state(self) -> ProjectState:
        """A copy of the full state (edit through the methods, not this copy)."""
        with self._rt.guard:
            return self._rt.state.model_copy(deep=True)

    @property
    def brief(self) -> Brief:
        return self._rt.state.brief

    def update(self, **changes: Any) -> Brief:
        """Change the brief (text=..., aspect=..., duration_s=..., resolution=..., fps=...)."""
        allowed = set(Brief.model_fields) - {"template"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise InvalidInput(f"cannot update {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        old = self._rt.state.brief
        if "text" in changes and "duration_s" not in changes and isinstance(changes["text"], str) \
                and stated_duration(changes["text"]) not in (None, stated_duration(old.text)):
            changes = {**changes, "duration_s": None}  # the new text states a new length
        with self._rt.guard:
            try:
                new = Brief.model_validate({**self._rt.state.brief.model_dump(), **changes})
            except ValidationError as exc:
                raise _brief_error(exc) from None
            self._rt.state.brief = new
            self._rt.save()
            return new

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
    def storyboard(self, replan: bool = False) -> SceneList:
        """Plan the scenes (once) and bring every scene's frame up to date with its inputs."""
        self._ensure_questions()
        run_sync(storyboard_phase.plan(self._rt, replan=replan))
        run_sync(storyboard_phase.make_frames(self._rt))
        return self.scenes

    @property
    def board(self) -> Any:
        """The storyboard as a live StoryboardBoard widget (the same one each time)."""
        return views.live_widgets().view_for(self, "board")

    @property
    def scenes(self) -> SceneList:
        return SceneList(self, [SceneHandle(self, s.id) for s in self._rt.state.scenes])

    def scene(self, ref: str | int) -> SceneHandle:
        """A scene by id or by 1-based number."""
        return SceneHandle(self, scene_ops.resolve(self._rt, ref).id)

    def edit_scene(self, ref: str | int, **changes: Any) -> SceneHandle:
        return SceneHandle(self, scene_ops.edit(self._rt, ref, **changes).id)

    def reorder(self, order: Sequence[str | int]) -> SceneList:
        scene_ops.reorder(self._rt, list(order))
        return self.scenes

    def move_scene(self, ref: str | int, to: int) -> SceneList:
        scene_ops.move(self._rt, ref, to)
        return self.scenes

    def add_scene(self, after: str | int | None = None, **fields: Any) -> SceneHandle:
        return SceneHandle(self, scene_ops.add(self._rt, after, **fields).id)

    def duplicate_scene(self, ref: str | int) -> SceneHandle:
        return SceneHandle(self, scene_ops.duplicate(self._rt, ref).id)

    def delete_scene(self, ref: str | int) -> str:
        """Remove a scene (archived with its takes; bring it back with restore_scene)."""
        return scene_ops.delete(self._rt, ref).id

    def restore_scene(self, scene_id: str, to: int | None = None) -> SceneHandle:
        return SceneHandle(self, scene_ops.restore(self._rt, scene_id, to).id)

    def regenerate_frame(self, ref: str | int, prompt: str | None = None, *,
                         force: bool = False, seed: int | None = None) -> Take:
        """A new frame take for one scene; unchanged inputs reuse the cached take unless force."""
        scene_id = scene_ops.resolve(self._rt, ref).id
        if prompt is not None:
            scene_ops.edit(self._rt, scene_id, visual_prompt=prompt)
        if seed is not None or force:
            scene_ops.reseed(self._rt, scene_id, "frame", seed)
        take, _hit = run_sync(storyboard_phase.make_frame(self._rt, scene_id))
        return take

    def choose_take(self, ref: str | int, take_id: str) -> SceneHandle:
        return SceneHandle(self, scene_ops.choose_take(self._rt, ref, take_id).id)

    def takes(self, ref: str | int | None = None) -> pd.DataFrame:
        """Every take (frame and clip) of one scene or of all scenes, newest last."""
        from nbvideo.handles import takes_frame

        scenes = [scene_ops.resolve(self._rt, ref)] if ref is not None else self._rt.state.scenes
        return takes_frame(scenes)

    # ------------------------------------------------------------------ clips
    @_shows_as_grid
    def generate_clips(self, scenes: Sequence[str | int] | None = None, *,
                       model: str | None = None, policy: str = "cheapest",
                       fallback: bool | Sequence[str] | None = None, retries: int = 2,
                       timeout_s: float = clips_phase.DEFAULT_TIMEOUT_S,
                       budget_usd: float | None = None) -> Job[list[Take]]:
        """Start one clip per scene (default: those missing or out of date); returns a Job at once.

        Wait with `await job` in a notebook or `job.wait()` in a script.
        Example: ``p.generate_clips(model="auto", policy="quality", budget_usd=5).wait()``

        Parameters
        ----------
        model : a catalog video model for this call (default: the project's), or "auto" to
            pick per scene by `policy`: "cheapest" (lowest cost that can make the scene's
            duration, aspect and resolution) or "quality" (highest tier, then cheapest).
        fallback : where a scene goes when its model fails after `retries`: True for the
            next model by `policy`, or a list of model names. Default: True for "auto",
            False for a named model.
        retries : extra predictions on the same model for a failed prediction or a
            transient API error.
        timeout_s : per prediction; one still running after it is canceled and fails over.
        budget_usd : caps what this call may spend (the project's `budget_usd` always holds
            too); a clip that would pass either is refused before its request is sent.
        """
        budget_usd = check_budget(budget_usd)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise InvalidInput(f"retries must be a whole number from 0 to 10, got {quote(retries)}")
        if (as_finite(timeout_s) or 0) <= 0:
            raise InvalidInput(f"timeout_s must be a number of seconds > 0, got {quote(timeout_s)}")
        rt = self._rt
        routing.check_policy(policy)  # refused arguments change nothing: checked before work
        if model is not None and model != routing.AUTO:
            rt.providers.check_video(model)
        with rt.guard:
            ids = None if scenes is None else [scene_ops.resolve(rt, r).id for r in scenes]
        # Frames drawn before p.finish(...) changed their marks are redrawn first (free), so
        # the clips are made from the frames the export wants.
        run_sync(storyboard_phase.refresh_marks(rt, ids))
        with rt.guard:
            if not rt.state.scenes:
                raise PhaseNotReady("no storyboard yet; run p.storyboard() first")
            for s in rt.state.scenes if scenes is None else ():
                if s.frame is None:
                    raise PhaseNotReady(f"scene {s.id} has no frame; run p.storyboard() first")
            picked = (rt.state.scenes if scenes is None
                      else [scene_ops.resolve(rt, r) for r in scenes])
            chains = self._chains(picked, model, policy, fallback)
            if scenes is None:  # skip what is current on any model the scene may use
                chains = {sid: c for sid, c in chains.items()
                          if not clips_phase.clip_is_current(rt, rt.state.scene(sid), c)}
        return clips_phase.start_clip_job(rt, chains, budget_usd=budget_usd, retries=retries,
                                          timeout_s=timeout_s)

    def _chains(self, scenes: Sequence[Scene], model: str | None, policy: str,
                fallback: bool | Sequence[str] | None) -> dict[str, list[str]]:
        pol = routing.check_policy(policy)
        fb = (model == routing.AUTO) if fallback is None else fallback
        avoid = self._avoid() if model == routing.AUTO else {}
        return {s.id: routing.chain_for(self._rt.providers, s, self._rt.state.brief, model, pol,
                                        fb, avoid) for s in scenes}

    def _avoid(self) -> dict[str, str]:
        """Unhealthy models (from this project's ledger) that "auto" routes around; says so."""
        from nbvideo.generate.health import unhealthy_models

        avoid = unhealthy_models(self.costs)
        for m, why in avoid.items():
            warnings.warn(f"model='auto' routes around {m}: it {why}; it stays only as a last "
                          "resort (see p.provider_health())", RoutingWarning, stacklevel=4)
        return avoid

    def provider_health(self) -> pd.DataFrame:
        """Failure rate and latency per provider and model over their recent calls (from the
        ledger); `healthy` False means model="auto" routes around it."""
        from nbvideo.generate.health import health_frame

        return health_frame(self.costs)

    @_shows_as_grid
    def regenerate_clip(self, ref: str | int, prompt: str | None = None, *,
                        force: bool = False, seed: int | None = None,
                        model: str | None = None) -> Job[list[Take]]:
        """A new clip take for one scene (new prompt, or force=True for a fresh seed)."""
        scene_id = scene_ops.resolve(self._rt, ref).id
        if prompt is not None or seed is not None or force:  # a new take: a paid one needs
            first = self._chains([self._rt.state.scene(scene_id)], model, "cheapest", None)
            check = getattr(self._rt.providers.video_for(first[scene_id][0]), "check_key", None)
            if check is not None:
                check()  # its key, asked for before anything changes
        if prompt is not None:  # the clip is made from the frame, so the frame follows the prompt
            self.regenerate_frame(scene_id, prompt)
        if seed is not None or force:
            scene_ops.reseed(self._rt, scene_id, "clip", seed)
        run_sync(storyboard_phase.refresh_marks(self._rt, [scene_id]))
        chains = self._chains([self._rt.state.scene(scene_id)], model, "cheapest", None)
        return clips_phase.start_clip_job(self._rt, chains, name=f"clip {scene_id}")

    # ------------------------------------------------------------------ timeline / export
    @property
    def timeline(self) -> TimelineView:
        return TimelineView(self)

    def trim(self, ref: str | int, in_s: float | None = None, out_s: float | None = None) -> None:
        """Keep [in_s, out_s) of the scene's clip, in seconds from the clip's start."""
        timeline_ops.trim(self._rt, ref, in_s, out_s)

    def set_transition(self, ref: str | int, kind: str = "cut", duration_s: float = 0.0) -> None:
        """How scene `ref` hands over to the next: 'cut' or 'crossfade' with duration_s."""
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
        captions=, scene_text=, logo=, end_card= (see `nbvideo.model.state.Finishing`). Saved with
        the project. `voice_fit="speed"` plays a voice line that is longer than its scene up
        to 1.5x faster; the default stops the export with the three ways to fit it.
        Offline frames follow it: clean (no board marks) while the export burns text, and
        without the look's logo while it watermarks the kit's; the next `p.storyboard()`,
        `p.generate_clips()` or `p.export()` redraws them and their animatics, free.

        Example: ``p.finish(brand="trailhead", voice="narrator-f", music="bed")``
        """
        from nbvideo.providers.voices import get_voice
        from nbvideo.store.brands import project_brand
        from nbvideo.store.confine import confined_file

        rt = self._rt
        with rt.guard:
            try:
                new = Finishing.model_validate({**rt.state.finishing.model_dump(), **settings})
            except ValidationError as exc:
                raise from_validation(exc, "finish") from None
            if new.brand:
                project_brand(new.brand, rt.store.root)
            if new.voice:
                get_voice(new.voice)
            if new.music not in ("bed", "none"):
                try:
                    music = rt.store.path(new.music)
                except PathEscape as exc:
                    raise InvalidInput(f"finish: music: {exc}") from None
                if not music.is_file():
                    raise InvalidInput(f"finish: music: {new.music} is not a file in the "
                                       "project; use 'bed', 'none' or a path inside it")
                confined_file(new.music, field="finish: music",
                              roots=[("the project folder", rt.store.root)], kind="audio")
            rt.state.finishing = new
            rt.save()
            return new

    def set_look(self, off: bool = False, **settings: Any) -> Look | None:
        """Set the look every frame is made with: style_words=, palette=, seed=, product=,
        reference_image=, logo= (see `nbvideo.model.look.Look`). Unset fields start from the brief,
        the answers and the brand kit set with `p.finish(brand=...)` (its palette and logo).
        `off=True` removes it. Frames whose request changes are remade by `p.storyboard()`.

        Example: ``p.set_look(product="grey trail shoe", reference_image="shoe.png")``
        """
        from nbvideo.model.look import look_from
        from nbvideo.plan.questions import effective_answers
        from nbvideo.render.finishing import kit_for
        from nbvideo.store.brands import logo_for, reference_for

        rt = self._rt
        with rt.guard:
            st = rt.state
            if off:
                st.look = None
                rt.save()
                return None
            base = st.look or look_from(st.brief.text, effective_answers(st.questions, st.answers),
                                        kit=kit_for(rt), seed=st.seed)
            try:
                new = Look.model_validate({**base.model_dump(), **settings})
            except ValidationError as exc:
                raise from_validation(exc, "set_look") from None
            logo_for(new, rt.store.root)  # inside the project, and images: else refused
            reference_for(new, True, rt.store.root)
            st.look = new
            rt.save()
            return new

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

        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput(f"music file: data must be the file's bytes, got "
                               f"{type(data).__name__}")
        rel = store_music(self._rt, str(filename), bytes(data))  # decoded outside the lock
        return self.finish(music=rel)

    @property
    def music(self) -> Any:
        """What the export puts under the picture: a MusicInfo (source none/bed/file, name,
        path, duration_s, loops)."""
        from nbvideo.sound.music_files import music_info

        with self._rt.guard:
            return music_info(self._rt, timeline_ops.total_frames(self._rt)
                              / self._rt.state.brief.fps)

    def line_fits(self) -> dict[str, Any]:
        """How each scene's voice line fits its scene, by scene id: a LineFit with words,
        max_words, voice_s (measured once the line is spoken, else estimated), over_s and
        fits. Speaks nothing."""
        from nbvideo.render.finishing import line_fits

        with self._rt.guard:
            return line_fits(self._rt, timeline_ops.entries(self._rt))

    def caption_cues(self) -> list[Any]:
        """The captions an export at the project's fps burns in, with the export's timing
        (each spoken line's real length once it is made, an estimate before). Empty when
        captions are off or there is no voice-over."""
        from nbvideo.render.finishing import caption_cues, line_fits

        rt = self._rt
        with rt.guard:
            f = rt.state.finishing
            if not (f.captions and f.voice):
                return []
            entries = timeline_ops.entries(rt)
            fits = line_fits(rt, entries)
            spoken = {sid: x.voice_s for sid, x in fits.items() if x.words}
            return caption_cues(entries, spoken, {sid: x.scene_s for sid, x in fits.items()},
                                rt.state.brief.fps)

    def review_sheet(self, per_page: int = 6) -> Any:
        """A PDF and a PNG contact sheet of the storyboard for client sign-off, in exports/:
        frames, scene numbers, durations, on-screen text, voice lines, cost, review status
        and the latest comments per scene."""
        from nbvideo.deliver.review import ReviewRow, review_sheet
        from nbvideo.render.finishing import kit_for

        rt = self._rt
        with rt.guard:
            costs = self.costs
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
                                      comments=[
                                          f"{c.author}: {c.text}" for c in s.comments
                                          if c.text and c.kind != "system"]))
            title = rt.state.storyboard_title or rt.state.name
            return review_sheet(title, rows, None, rt.store.path("exports"), per_page,
                                kit=kit_for(rt))

    # ------------------------------------------------------------------ clip QA
    @property
    def qa(self) -> pd.DataFrame:
        """Automatic QA of every clip take checked so far: passed, the problems found, and
        the measurements (duration, size, longest black and frozen stretches, audio)."""
        rows = []
        for n, s in enumerate(self._rt.state.scenes, 1):
            for t in s.clip_takes:
                if t.qa is None:
                    continue
                rows.append({"scene": n, "scene_id": s.id, "take": t.id,
                             "current": t.id == s.clip_take_id, "provider": t.provider,
                             "model": t.model, "passed": t.qa.passed,
                             "problems": "; ".join(t.qa.problems), **t.qa.metrics,
                             "checked_at": t.qa.checked_at})
        cols = ["scene", "scene_id", "take", "current", "provider", "model", "passed",
                "problems"]
        return pd.DataFrame(rows, columns=list(dict.fromkeys(
            [*cols, *(k for r in rows for k in r)])))

    def set_qa_policy(self, mode: str, retries: int | None = None) -> QAPolicy:
        """What a clip failing QA does: 'off' (no QA), 'warn' (keep it, flagged in `p.qa`),
        or 'retry' (new takes with new seeds, up to `retries`, within budget). Saved."""
        rt = self._rt
        with rt.guard:
            data = {**rt.state.qa_policy.model_dump(), "mode": mode}
            if retries is not None:
                data["retries"] = retries
            try:
                policy = QAPolicy.model_validate(data)
            except ValidationError as exc:
                raise from_validation(exc, "set_qa_policy") from None
            rt.state.qa_policy = policy
            rt.save()
        return policy

    def check_clips(self, recheck: bool = False) -> pd.DataFrame:
        """QA the current clips not checked yet (all of them with `recheck`); returns `p.qa`.
        Clips made before QA existed, or with the policy off, get checked this way."""
        from nbvideo.generate.clips import check_clip

        rt = self._rt
        todo = []
        with rt.guard:
            for s in rt.state.scenes:
                take = s.clip
                if take is None or not take.ok:
                    continue
                if recheck:
                    take.qa = None
                if take.qa is None:
                    todo.append((s.id, take))
        for sid, take in todo:
            run_sync(check_clip(rt, rt.providers.video_for(take.model), sid, take,
                                force=True))
        return self.qa

    @property
    def metadata(self) -> Metadata:
        """Upload metadata for the packages: what was set with `set_metadata`, else a draft
        from the storyboard, brief and brand kit."""
        from nbvideo.deliver.package import draft_metadata
        from nbvideo.render.finishing import kit_for

        rt = self._rt
        if rt.state.metadata is not None:
            return rt.state.metadata
        kit = kit_for(rt)
        return draft_metadata(rt.state, cta=kit.end_card.cta if kit else "",
                              link=kit.end_card.url if kit else "",
                              brand=kit.name if kit else None)

    def set_metadata(self, **fields: Any) -> Metadata:
        """Edit the upload metadata: title=, description=, hashtags=[...], cta=, link=.
        Fields not given keep their value (drafted ones become saved ones)."""
        rt = self._rt
        with rt.guard:
            try:
                meta = Metadata.model_validate({**self.metadata.model_dump(), **fields})
            except ValidationError as exc:
                from nbvideo.deliver.package import FIELD_HINTS

                raise from_validation(exc, "set_metadata", FIELD_HINTS) from None
            rt.state.metadata = meta
            rt.save()
        return meta

    def package(self, presets: Sequence[str] | str, name: str = "ad", *,
                accept: bool | Sequence[str] = ()) -> pd.DataFrame:
        """One folder and zip per platform in packages/: the video, poster, SRT and VTT
        captions, and the upload form's fields as metadata.json and upload.txt. Metadata is
        checked against each platform's limits before anything renders; nothing is uploaded.
        `accept` goes to `export` (its preset checks)."""
        from nbvideo.deliver.package import package

        chosen = [presets] if isinstance(presets, str) else list(presets)
        if not chosen:
            raise InvalidInput("presets: give at least one platform preset, e.g. ['tiktok']")
        rows = package(self.path, self.metadata, chosen, name,
                       lambda ps: list(self.export(name, preset=ps, accept=accept)))
        return pd.DataFrame(rows)

    @property
    def exports(self) -> Exports:
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
        return versions.frame(evs)

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
    def _review(self, ref: str | int, verb: str, text: str | None = None) -> Comment:
        rt = self._rt
        with rt.guard:
            scene = scene_ops.resolve(rt, ref)
            fn = getattr(approvals, verb)
            before = scene.model_copy(deep=True)
            args = (text,) if verb != "submit" or text is not None else ()
            try:
                made = fn(scene, self.user, *args)
            except BaseException:
                idx = rt.state.scenes.index(scene)
                rt.state.scenes[idx] = before
                raise
            rt.save()
            return made

    def comment(self, scene: str | int, text: str) -> Comment:
        """Add a comment (author: p.user, time: now) to a scene; its status stays."""
        return self._review(scene, "comment", text)

    def submit_for_review(self, scene: str | int, text: str | None = None) -> Comment:
        """Mark a scene in review (from draft or changes requested)."""
        return self._review(scene, "submit", text)

    def approve(self, scene: str | int, text: str | None = None) -> Comment:
        """Approve a scene. Editing it later moves it back to draft, with a note saying why."""
        return self._review(scene, "approve", text)

    def request_changes(self, scene: str | int, text: str) -> Comment:
        """Ask for changes to a scene; `text` says which."""
        return self._review(scene, "request_changes", text)

    @property
    def review(self) -> pd.DataFrame:
        """Per scene: number, id, title, review status, comment count and the last comment."""
        rows = []
        for n, s in enumerate(self._rt.state.scenes, 1):
            said = [c for c in s.comments if c.text]
            last = said[-1] if said else None
            rows.append({"scene": n, "id": s.id, "title": s.title, "status": s.review_status,
                         "comments": len(said),
                         "last_comment": f"{last.author}: {last.text}" if last else ""})
        return pd.DataFrame(rows, columns=["scene", "id", "title", "status", "comments",
                                           "last_comment"])

    @property
    def comments(self) -> pd.DataFrame:
        """Every comment and review note, oldest first, with scene, author, time and kind."""
        order = {s.id: n for n, s in enumerate(self._rt.state.scenes, 1)}
        rows = [{"scene": order.get(s.id), "scene_id": s.id, "id": c.id, "time": c.time,
                 "author": c.author, "kind": c.kind, "text": c.text}
                for s in (*self._rt.state.scenes, *self._rt.state.archived_scenes)
                for c in s.comments]
        df = pd.DataFrame(rows, columns=["scene", "scene_id", "id", "time", "author", "kind",
                                         "text"])
        df["scene"] = df["scene"].astype("Int64")
        return df.sort_values("time", kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------ costs / status
    def estimate(self, model: str | None = None, policy: str = "cheapest") -> pd.DataFrame:
        """What clips would cost per scene on `model` (default: the project's; "auto" picks
        per scene by `policy`, as generate_clips would), with the total on top.

        Nothing is spent. Scenes whose clip is already current cost 0 (re-running reuses it).
        """
        from nbvideo.plan.estimate import estimate_clips

        rt = self._rt
        with rt.guard:
            if not rt.state.scenes:
                raise PhaseNotReady("no storyboard yet; run p.storyboard() first")
            if model == routing.AUTO:  # a scene no model can make is priced (and flagged) as is
                pol = routing.check_policy(policy)
                avoid = self._avoid()  # priced as generate_clips would route
                chosen = {s.id: (routing.ranked(rt.providers, s, rt.state.brief, pol, avoid)
                                 or [rt.providers.video.model])[0] for s in rt.state.scenes}
            else:
                name = model or rt.providers.video.model
                lifecycle.check(get_model(name))  # unknown or shut down: refused, with why
                chosen = {s.id: name for s in rt.state.scenes}
            current = {s.id for s in rt.state.scenes if s.frame is not None
                       and clips_phase.clip_is_current(rt, s, [chosen[s.id]])}
            return estimate_clips(rt, chosen, current, label=model or chosen[rt.state.scenes[0].id])

    def use_models(self, **models: str) -> dict[str, str]:
        """Pick catalog models per kind, e.g. p.use_models(video="kling-v2.1"); None resets one.

        Takes already made are kept; the next generate_clips() makes clips with the new model
        (scenes whose clip came from another model are out of date).
        """
        rt = self._rt
        with rt.guard:
            chosen = {**rt.state.models, **models}
            chosen = {k: v for k, v in chosen.items() if v is not None}
            rt.providers = provider_set(rt.state.providers, chosen,  # validates, checks keys
                                        rt.providers.options)
            rt.state.models = chosen  # type: ignore[assignment]
            rt.save()
            return dict(chosen)

    @property
    def models(self) -> dict[str, str]:
        """The model used for each kind (text, image, video)."""
        p = self._rt.providers
        return {"text": p.planner.model, "image": p.frames.model, "video": p.video.model}

    @property
    def budget_usd(self) -> float | None:
        return self._rt.state.budget_usd

    @budget_usd.setter
    def budget_usd(self, value: float | None) -> None:
        value = check_budget(value)
        with self._rt.guard:
            self._rt.state.budget_usd = value
            self._rt.budget.limit_usd = self._rt.state.budget_usd
            self._rt.save()

    @property
    def spent_usd(self) -> float:
        """Actual spend so far, from the ledger."""
        return self._rt.spent_usd()

    @property
    def costs(self) -> pd.DataFrame:
        """Every provider call: time, phase, scene, take, provider, model, units, cost, ..."""
        return self._rt.ledger.frame()

    def cost_summary(self) -> pd.DataFrame:
        """Calls, cache hits, spend and time grouped by phase, provider and model."""
        return summarize(self.costs)

    def run(self, *, model: str | None = None, policy: str = "cheapest",
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
        self._rt.listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._rt.listeners:
                self._rt.listeners.remove(fn)

        return unsubscribe

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
