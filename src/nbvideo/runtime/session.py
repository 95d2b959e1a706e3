"""Opening a project folder: create or reopen it, and one live project per folder per process.

`Project.open` is a facade over `open_session`: the options are checked here, the folder is
read (or created) through the store, and the Runtime every phase works with is built. A
folder already open for writing in this process is shared, not opened twice: every handle
on it sees every edit, and no save overwrites another. `Session.close` counts handles; the
writer lock goes when the last one closes.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nbvideo.errors import InvalidInput, ProjectNotFound, from_validation, quote
from nbvideo.model.brief_length import length_note, stated_duration
from nbvideo.model.checked import budget as check_budget
from nbvideo.model.state import Brief, ProjectState
from nbvideo.model.templates import get_template, template_key
from nbvideo.providers import provider_set
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.roles import gate_for
from nbvideo.store.folder import ProjectStore, slug_path
from nbvideo.store.ledger import Ledger

log = logging.getLogger("nbvideo.project")  # the user's project speaks under its own name
LENGTH_CHOSEN: contextvars.ContextVar[bool] = contextvars.ContextVar("length_chosen",
                                                                    default=False)
"""True while a caller that set the length on purpose (a campaign's 15 s variant of a brief
that says 30 s) creates a project: the brief-versus-length note would only be noise."""

OPEN_OPTIONS = ("brief", "aspect", "duration_s", "resolution", "fps", "providers", "models",
                "seed", "budget_usd", "read_only", "template")


@dataclass(eq=False)
class Live:
    """A project open for writing in this process, and how many handles hold it open."""

    rt: Runtime
    handles: int = 1


# One live project per folder per process, keyed by the resolved folder (symlinks meet).
# Held weakly: an entry lives while a handle or its Runtime (e.g. in a running Job) does.
_LIVE: weakref.WeakValueDictionary[Path, Live] = weakref.WeakValueDictionary()
_GUARD = threading.RLock()


@dataclass(eq=False)
class Session:
    """One handle's hold on an open project: its Runtime, and the live entry it counts in
    (None for a read-only handle, which holds no lock)."""

    rt: Runtime
    live: Live | None = None
    closed: bool = False

    def close(self) -> None:
        """Let go of the project (once); the last handle on a folder releases its lock."""
        with _GUARD:
            if self.closed:
                return
            self.closed = True
            live = self.live
            if live is not None:
                live.handles -= 1
                if live.handles > 0:
                    return
                key = self.rt.store.root.resolve()
                if _LIVE.get(key) is live:
                    del _LIVE[key]
            self.rt.store.release()


def brief_error(exc: ValidationError) -> InvalidInput:
    """The first problem, named by field with the value given: 'aspect: ... got '21:9''
    (the brief's text is called 'brief', as Project.open's argument is)."""
    return from_validation(exc, rename={"text": "brief"})


def _live_entry(root: Path) -> Live | None:
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


def open_session(path: str | os.PathLike[str], brief: str | None,
                 options: dict[str, Any]) -> Session:
    """Check `Project.open`'s options, then share the folder's live project or load it.
    New models or a new budget for an existing project are then applied as edits are
    (checked, saved, in the history); a refused one leaves this handle closed, not the
    folder locked."""
    unknown = sorted(set(options) - set(OPEN_OPTIONS))
    if unknown:
        raise TypeError(
            f"Project.open() got unexpected option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(OPEN_OPTIONS)}"
        )
    options = dict(options)
    read_only = bool(options.pop("read_only", False))
    providers = options.pop("providers", None)
    seed = options.pop("seed", None)
    budget = check_budget(options.pop("budget_usd", None))  # before any lock is taken
    models = options.pop("models", None)
    brief_opts = {k: v for k, v in options.items() if v is not None}
    store = ProjectStore(slug_path(path))
    with _GUARD:
        live = None if read_only else _live_entry(store.root)
        if live is not None:  # the same folder is open in this process: share it
            check_same(live.rt.state, brief, brief_opts, providers, seed)
            live.handles += 1
            session = Session(live.rt, live)
        else:
            session = _load(store, brief, brief_opts, providers, seed, budget, models, read_only)
    rt = session.rt
    try:
        if models is not None and models != rt.state.models and not read_only:
            rt.use_models(models)
        if budget is not None and budget != rt.state.budget_usd:
            rt.set_budget(budget)
    except BaseException:
        session.close()
        raise
    return session


def _load(store: ProjectStore, brief: str | None, brief_opts: dict[str, Any],
          providers: str | None, seed: int | None, budget: float | None,
          models: dict[str, str] | None, read_only: bool) -> Session:
    """Read (or create) the project from disk into a new live Runtime."""
    created = not store.exists()
    explicit_s = brief_opts.get("duration_s")  # before a template adds its own
    note = None
    if brief_opts.get("template") is not None and not store.exists():
        tmpl = get_template(brief_opts["template"])  # unknown names are refused, listed
        # a pack's template is saved by its full name (pack/name): installing another pack
        # with the same bare name later must not make this project's brief ambiguous
        brief_opts = {**brief_opts, "template": template_key(brief_opts["template"])}
        brief = tmpl.example_brief if brief is None else brief
        # the length: given, else the brief's own, else the template's
        told = stated_duration(brief) is not None
        brief_opts = {"aspect": tmpl.aspect,
                      **({} if told else {"duration_s": tmpl.duration_s}), **brief_opts}
    if brief is not None and not store.exists() and isinstance(explicit_s, int | float):
        note = length_note(brief, explicit_s)
    roles = gate_for(store.root)  # None outside a workspace: no role is checked
    if roles is not None and store.exists():
        roles.require("read")
    if store.exists():
        if not read_only:
            store.acquire()
        try:
            state = store.load()
            check_same(state, brief, brief_opts, providers, seed)
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
            raise brief_error(exc) from None
        # refuse bad choices before writing; a key is asked for at the first paid call
        provider_set(state.providers, state.models, keys_now=False)
        if roles is not None:  # an editor's action: refused before the folder exists
            roles.require("create", state.name)
        store.root.mkdir(parents=True, exist_ok=True)
        store.acquire()
        store.make_dirs()
        store.save(state)
    # Opening needs no keys: a read-only open generates nothing (e.g. `nbvideo costs`), and
    # a writable one asks for a vendor's key only when a paid call is about to be made.
    try:
        # a model shut down since the project chose it warns here (naming its successor)
        # and is refused at its first paid call, so the project still opens to switch it
        rt = Runtime(state=state, store=store, ledger=Ledger(store.ledger_path), roles=roles,
                     providers=provider_set("local") if read_only
                     else provider_set(state.providers, state.models, keys_now=False,
                                       refuse_retired=created))
    except BaseException:
        store.release()
        raise
    if read_only:
        return Session(rt)
    live = Live(rt)
    rt.keepalive = live
    _LIVE[store.root.resolve()] = live
    if created and rt.history is not None:
        rt.history.mark("create", summary=f"project {state.name!r}: {state.brief.text}"[:300])
    if created:
        rt.audit("create", detail=state.brief.text[:200])
    if note is not None and not LENGTH_CHOSEN.get():  # the explicit length won: say so, once
        log.warning("%s: %s", state.name, note)
    return Session(rt, live)


def check_same(state: ProjectState, brief: str | None, opts: dict[str, Any],
               providers: str | None, seed: int | None) -> None:
    """Refuse a reopen whose brief or options differ from the project on disk."""
    diffs = []
    if brief is not None and " ".join(brief.split()) != state.brief.text:
        diffs.append("brief")
    for k, v in opts.items():
        if k == "template" and isinstance(v, str) and v != state.brief.template:
            with contextlib.suppress(InvalidInput):  # a pack template given by its bare name
                v = template_key(v) or v
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


def update_brief(rt: Runtime, changes: dict[str, Any]) -> Brief:
    """Change the brief (not its template), checked whole, and save it. New text that
    states a new length ("a 15-second ad") brings that length unless one is given."""
    allowed = set(Brief.model_fields) - {"template"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInput(f"cannot update {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    old = rt.state.brief
    if "text" in changes and "duration_s" not in changes and isinstance(changes["text"], str) \
            and stated_duration(changes["text"]) not in (None, stated_duration(old.text)):
        changes = {**changes, "duration_s": None}  # the new text states a new length
    with rt.guard:
        try:
            new = Brief.model_validate({**rt.state.brief.model_dump(), **changes})
        except ValidationError as exc:
            raise brief_error(exc) from None
        rt.state.brief = new
        rt.save()
        return new
