"""What every phase works with: the state, its store, the ledger, the providers, one guard.

`produce` is the one place a frame or clip take is made: it hashes the request, reuses a
take with the same key (a cache hit, logged at cost 0), or calls the provider, records the
new take, selects it, logs the call and saves — so "pay only for what changed" holds for
every phase alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from nbvideo.errors import BudgetExceeded, ModelRetired, RoleRefused
from nbvideo.keys import redact
from nbvideo.model import approvals
from nbvideo.model.state import ProjectState, Scene, Take, utcnow
from nbvideo.providers import ProviderSet, lifecycle, provider_set
from nbvideo.providers.base import CreateMayExist, MediaResult, ProviderError, Usage
from nbvideo.runtime.budget import Budget, Reservation, gate, settling
from nbvideo.runtime.roles import Gate, identity
from nbvideo.store.brands import BrandKit, finishing_kit
from nbvideo.store.folder import ProjectStore
from nbvideo.store.history import Recorder
from nbvideo.store.ledger import Ledger, LedgerEntry
from nbvideo.store.schemas import ProjectSchemas

TakeKind = Literal["frame", "clip"]


class SharedWork(Protocol):
    """Work shared across the projects of a campaign (`runtime.shared.SharedAssets`): a
    request is answered from the shared store, or made once and stored for the others."""

    async def through(self, rt: Runtime, *, scene_id: str, kind: TakeKind, provider: str,
                      model: str, key: str, seed: int, inputs: dict[str, Any],
                      after: Callable[[Take, Path], None] | None,
                      make: Callable[[Take | None], Awaitable[tuple[Take, bool]]],
                      resume: Take | None = None) -> tuple[Take, bool]:
        """`make(take)` makes the request (None) or resumes `take`, a job already
        submitted; `resume` is this project's in-flight take of the request, if any."""
        ...

_EXT = {"frame": "png", "clip": "mp4"}
_DIR = {"frame": "assets/frames", "clip": "assets/clips"}
log = logging.getLogger(__name__)


def canonical(obj: Any) -> str:
    """Stable JSON for hashing: sorted keys, no spaces, floats rounded to microseconds."""

    def norm(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 6)
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return json.dumps(norm(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(provider: str, model: str, inputs: dict[str, Any], seed: int) -> str:
    payload = canonical({"provider": provider, "model": model, "inputs": inputs, "seed": seed})
    return hashlib.sha256(payload.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_take_id(kind: TakeKind) -> str:
    return ("f" if kind == "frame" else "c") + secrets.token_hex(5)


@dataclass
class Runtime:
    state: ProjectState
    store: ProjectStore
    ledger: Ledger
    providers: ProviderSet
    guard: threading.RLock = field(default_factory=threading.RLock)
    budget: Budget = field(init=False)
    listeners: list[Callable[[], None]] = field(default_factory=list)
    shared: SharedWork | None = None
    """A campaign's content-addressed store: a request another project already made is
    copied from it (a cache hit) instead of paid for again."""
    extra_budgets: list[Budget] = field(default_factory=list)
    """Budgets beyond the project's that every paid request must fit (a campaign's)."""
    keepalive: object = field(default=None, repr=False, compare=False)
    """What the project layer keeps alive with this runtime (its one-live-project entry)."""
    history: Recorder | None = field(init=False, default=None)
    """Writes history.jsonl: one event per save (None when the project is read-only)."""
    attempts: dict[str, set[Any]] = field(default_factory=dict, repr=False, compare=False)
    """Clip predictions under way per model (generate/clips.py): a failed one waits for its
    siblings' outcomes before deciding whether the model is down."""
    roles: Gate | None = None
    """The workspace's role gate (runtime/roles.py), or None for a project outside any
    workspace, which checks no roles."""
    actor: str = field(default="", repr=False)
    """Who the ledger's `user` column names: the gate's user, else the hub's or OS user."""

    def __post_init__(self) -> None:
        if not self.actor:
            self.actor = self.roles.user if self.roles is not None else identity(confirm=False)
        self.budget = Budget("project budget", self.state.budget_usd, self.spent_usd)
        if self.store.writable:
            self.history = Recorder(self.store.root, self.state, rules=[approvals.reset_edited])

    @property
    def schemas(self) -> ProjectSchemas:
        """Provider input schemas this project's paid calls were checked against."""
        return ProjectSchemas(self.store.root)

    def brand_kit(self) -> BrandKit | None:
        """The brand kit the project's finishing names (from the project's brands/ or the
        shared library), or None."""
        return finishing_kit(self.state.finishing.brand, self.store.root)

    def subscribe(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call `fn()` after every save; returns a function that unsubscribes (twice is fine)."""
        self.listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self.listeners:
                self.listeners.remove(fn)

        return unsubscribe

    def share(self, shared: SharedWork | None, budgets: Sequence[Budget] = (),
              provider_options: dict[str, dict[str, Any]] | None = None) -> None:
        """Join a campaign: its shared asset store, its budgets, its provider options."""
        with self.guard:
            if provider_options:  # e.g. polling hints the base project was given
                self.providers = provider_set(self.state.providers, self.state.models,
                                              provider_options)
            self.shared = shared
            self.extra_budgets = list(budgets)

    def use_models(self, models: dict[str, str | None]) -> dict[str, str]:
        """Pick catalog models per kind (None resets one): checked, keys asked for, saved."""
        with self.guard:
            chosen = {**self.state.models, **models}
            chosen = {k: v for k, v in chosen.items() if v is not None}
            self.providers = provider_set(self.state.providers, chosen,  # validates, checks keys
                                          self.providers.options)
            self.state.models = chosen  # type: ignore[assignment]
            self.save()
            return dict(chosen)

    def acting(self, action: str, detail: str = "") -> AbstractContextManager[object]:
        """Check the person's role for `action` (in a workspace) and let the saves inside
        count as it; outside a workspace there is nothing to check."""
        return self.roles.acting(action, detail) if self.roles is not None else nullcontext()

    def require(self, action: str, detail: str = "") -> None:
        """Check the role for `action` before work that writes outside project.json (a file
        copied into assets/, a history mark), so a refusal leaves nothing behind; the save
        that follows checks again."""
        if self.roles is not None:
            self.roles.require(action, detail)

    def audit(self, action: str, *, cost_usd: float = 0.0, detail: str = "") -> None:
        """An entry in the workspace's audit log (nothing outside a workspace)."""
        if self.roles is not None:
            self.roles.record(action, cost_usd=cost_usd, detail=detail)

    def set_budget(self, value: float | None) -> None:
        """Change the project's spending cap (already checked) and save it (an owner's
        action in a workspace)."""
        with self.acting("budget", f"project budget {value}"), self.guard:
            self.state.budget_usd = value
            self.budget.limit_usd = value
            self.save()
            self.audit("budget", detail=f"project budget set to {value}")

    def spent_usd(self) -> float:
        """Actual spend so far, from the ledger."""
        df = self.ledger.to_pandas()
        return float(df.loc[df["kind"] == "actual", "cost_usd"].sum())

    def save(self) -> None:
        """Persist the state, then tell listeners (live views) that it changed.

        Listeners run in the saving thread, often with the guard held: they must only take
        note (schedule a refresh), never block or call back into the project.

        Every save is also a history event (what changed, by whom, before and after): this
        is the one place state changes go through, so new methods get history for free.
        """
        with self.guard:
            if self.roles is not None:  # refused before anything is written
                try:
                    self.roles.check_save()
                except RoleRefused:
                    self._revert()
                    raise
            pending = self.history.prepare(self.state) if self.history is not None else None
            self.store.save(self.state)
            if pending is not None:
                self.history.commit(pending)  # type: ignore[union-attr]
            for fn in list(self.listeners):
                try:
                    fn()
                except Exception:
                    log.exception("a project change listener failed")

    def _revert(self) -> None:
        """Put the state back as last saved: a refused change leaves nothing behind, in
        memory either (the verbs change the state, then save)."""
        if not self.store.exists() or not self.store.is_current():
            return
        disk = self.store.load()
        for name in type(self.state).model_fields:
            setattr(self.state, name, getattr(disk, name))

    @contextmanager
    def paid(self, *, phase: str, provider: str, model: str, estimate_usd: float, item: str,
             budgets: Sequence[Budget] = (), scene: str | None = None,
             take: str | None = None, key: str | None = None) -> Iterator[Reservation]:
        """The money gate of this project: every paid provider call runs inside this block.

        Reserves `estimate_usd` (the call's upper bound) in the project's budget, in
        `budgets` (e.g. one `generate_clips` call's) and in `extra_budgets` (a campaign's)
        before anything is sent; set `reservation.actual_usd` to what was billed. A refusal
        is a `refused` ledger row and a `BudgetExceeded` naming the budget, the amount spent,
        the estimate and `item`. A second way to a paid provider is a bug (see
        tests/test_money_gate.py, which checks every dollar a vendor billed came through
        here)."""

        def refused(exc: Exception) -> None:
            self.log(phase=phase, scene=scene, take=take, provider=provider, model=model,
                     key=key, estimated_usd=estimate_usd or None, status="refused",
                     note=str(exc)[:200])

        try:  # a model its vendor shut down is refused here, before any money moves
            lifecycle.check(model)
        except ModelRetired as exc:
            refused(exc)
            raise
        team: list[Budget] = []
        if self.roles is not None and estimate_usd > 0:  # spending is an editor's action
            self.roles.require("spend", item)
            team = list(self.roles.budgets())

        def refused_here(exc: BudgetExceeded) -> None:
            refused(exc)
            if self.roles is not None:
                self.roles.audit.append(who=self.roles.user, action="spend", outcome="refused",
                                        project=self.roles.project, detail=str(exc)[:300])

        with gate([self.budget, *budgets, *self.extra_budgets, *team], estimate_usd, item,
                  refused_here) as held:
            try:
                yield held
            finally:
                if self.roles is not None and (held.actual_usd or estimate_usd > 0):
                    self.audit("spend", cost_usd=float(held.actual_usd or 0.0),
                               detail=f"{item} on {model}")

    def log(self, **fields: Any) -> LedgerEntry:
        fields.setdefault("user", self.actor)
        entry = LedgerEntry(**fields)
        with settling(entry.cost_usd if entry.kind == "actual" else 0.0):
            return self.ledger.append(entry)

    def log_cache_hit(self, *, phase: str, provider: str, model: str, note: str,
                      scene: str | None = None, take: str | None = None,
                      key: str | None = None) -> LedgerEntry:
        """A request answered from what the project already has: logged, at cost 0."""
        return self.log(phase=phase, scene=scene, take=take, provider=provider, model=model,
                        status="cache_hit", cache_hit=True, key=key, note=note)

    def log_usage(self, *, usage: Usage, latency_s: float, **fields: Any) -> LedgerEntry:
        return self.log(
            units=usage.units, unit=usage.unit, unit_price_usd=usage.unit_price_usd,
            cost_usd=usage.cost_usd, latency_s=latency_s, request_id=usage.request_id, **fields,
        )


def _takes(scene: Scene, kind: TakeKind) -> list[Take]:
    return scene.frame_takes if kind == "frame" else scene.clip_takes


def _select(scene: Scene, kind: TakeKind, take_id: str) -> None:
    if kind == "frame":
        scene.frame_take_id = take_id
    else:
        scene.clip_take_id = take_id


def cached_take(scene: Scene, kind: TakeKind, key: str, store: ProjectStore) -> Take | None:
    """A succeeded take with this key whose file is still there."""
    for take in reversed(_takes(scene, kind)):
        if take.key == key and take.ok and take.path and store.path(take.path).exists():
            return take
    return None


class Pending:
    """The take being made. A remote run calls `submitted(id)` before waiting, which saves the
    take (status running, with the prediction id) so a restarted kernel resumes, not repays."""

    def __init__(self, rt: Runtime, scene_id: str, take: Take, common: dict[str, Any],
                 saved: bool = False) -> None:
        self.rt, self.scene_id, self.take, self.common = rt, scene_id, take, common
        self.saved = saved  # already in the project (a resumed take)

    def submitted(self, request_id: str) -> None:
        take = self.take
        take.request_id = request_id
        with self.rt.guard:
            if not self.saved:
                _takes(self.rt.state.scene(self.scene_id), take.kind).append(take)
                self.saved = True
            self.rt.save()
        self.rt.log(**{**self.common, "status": "submitted", "request_id": request_id})

    def idempotency_key(self, prefix: str = "nbvideo") -> str:
        """A key for the vendor's create call (an Idempotency-Key header) that stays the same
        for every try at this request until one reaches the vendor: the take's request hash
        and how many earlier takes of that request got a remote id. A create whose answer was
        lost (its take has no id) is sent again under the same key, and the vendor answers
        with the job it already made; a try after a job that ran (failed, timed out, deleted,
        or a forced remake) gets a new key, so it makes a new job."""
        take = self.take
        with self.rt.guard:
            reached = sum(1 for t in _takes(self.rt.state.scene(self.scene_id), take.kind)
                          if t.key == take.key and t.request_id and t.id != take.id)
        return f"{prefix}-{take.key[:48]}-{reached}"

    def record(self, status: str, error: str | None = None) -> None:
        """Put the take's final state in the project (appending it if not saved yet)."""
        take = self.take
        take.status, take.finished_at = status, utcnow()  # type: ignore[assignment]
        if error is not None:
            take.error = error[:500]
        with self.rt.guard:
            if not self.saved:
                _takes(self.rt.state.scene(self.scene_id), take.kind).append(take)
                self.saved = True
            self.rt.save()


async def produce(
    rt: Runtime,
    *,
    scene_id: str,
    kind: TakeKind,
    provider: str,
    model: str,
    inputs: dict[str, Any],
    seed: int,
    run: Callable[[Path, Pending], Awaitable[MediaResult]],
    after: Callable[[Take, Path], None] | None = None,
    estimate_usd: float = 0.0,
    budgets: Sequence[Budget] = (),
    resume: Take | None = None,
    key_inputs: dict[str, Any] | None = None,
    preflight: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Take, bool]:
    """Make (or reuse) the take for this request and select it. Returns (take, cache_hit).

    `preflight` checks the provider's real request (e.g. against the model's input schema)
    before the money gate: its error is a `refused` ledger row, with nothing reserved or sent.

    With `resume`, finish that in-flight take (its prediction was already paid for) instead
    of starting a new one. `key_inputs` (default `inputs`) is what the cache key hashes:
    what the provider really sends, when that differs from what we keep on the take."""
    phase = "frames" if kind == "frame" else "clips"
    key = request_key(provider, model, key_inputs if key_inputs is not None else inputs, seed)
    with rt.guard:
        scene = rt.state.scene(scene_id)
        hit = cached_take(scene, kind, key, rt.store) if resume is None else None
        if hit is not None:
            _select(scene, kind, hit.id)
            rt.save()
            rt.log_cache_hit(phase=phase, scene=scene_id, take=hit.id, provider=provider,
                             model=model, key=key, note="reused existing take")
            return hit, True

    async def make(resume: Take | None = resume) -> tuple[Take, bool]:
        rt.providers.require_key(provider)  # a paid call is next: MissingKey now, by name
        if preflight is not None and resume is None:  # a resumed take was already checked
            try:
                await preflight()
            except Exception as exc:
                rt.log(phase=phase, scene=scene_id, provider=provider, model=model, key=key,
                       estimated_usd=estimate_usd or None, status="refused",
                       note=redact(str(exc))[:200])
                raise
        return await _make(rt, scene_id=scene_id, kind=kind, provider=provider, model=model,
                           inputs=inputs, seed=seed, run=run, after=after,
                           estimate_usd=estimate_usd, budgets=budgets, resume=resume, key=key)

    if rt.shared is not None:  # a resumed job too: another project may have finished it
        return await rt.shared.through(rt, scene_id=scene_id, kind=kind, provider=provider,
                                       model=model, key=key, seed=seed, inputs=inputs,
                                       after=after, make=make, resume=resume)
    return await make()


async def _make(
    rt: Runtime,
    *,
    scene_id: str,
    kind: TakeKind,
    provider: str,
    model: str,
    inputs: dict[str, Any],
    seed: int,
    run: Callable[[Path, Pending], Awaitable[MediaResult]],
    after: Callable[[Take, Path], None] | None,
    estimate_usd: float,
    budgets: Sequence[Budget],
    resume: Take | None,
    key: str,
) -> tuple[Take, bool]:
    """Call the provider for a new take (or finish `resume`), record it and log the call."""
    phase = "frames" if kind == "frame" else "clips"
    if resume is not None:
        take = resume
        estimate_usd, budgets = 0.0, ()  # already reserved and sent by the process that died
    else:
        take = Take(id=new_take_id(kind), kind=kind, key=key, provider=provider, model=model,
                    seed=seed, inputs=inputs, status="running")
    rel = f"{_DIR[kind]}/{scene_id}-{take.id}.{_EXT[kind]}"
    out = rt.store.path(rel)
    out.parent.mkdir(parents=True, exist_ok=True)
    common = dict(phase=phase, scene=scene_id, take=take.id, provider=provider, model=model,
                  key=key, estimated_usd=estimate_usd or None)
    pending = Pending(rt, scene_id, take, common, saved=resume is not None)
    started = time.perf_counter()
    with rt.paid(phase=phase, provider=provider, model=model, estimate_usd=estimate_usd,
                 item=f"{kind} for scene {scene_id}", budgets=budgets, scene=scene_id,
                 take=take.id, key=key) as held:
        try:
            result = await run(out, pending)
        except asyncio.CancelledError:
            out.unlink(missing_ok=True)
            if pending.saved:
                pending.record("canceled")
            rt.log(**common, status="canceled", request_id=take.request_id,
                   latency_s=time.perf_counter() - started)
            raise
        except Exception as exc:  # recorded on the take and in the ledger, then re-raised
            out.unlink(missing_ok=True)
            message = redact(str(exc))
            billed = exc.usage if isinstance(exc, ProviderError) else Usage()
            if isinstance(exc, CreateMayExist) and not billed.cost_usd:
                # the vendor may bill a job we never heard back about: count it at its
                # estimate, so every budget holds whatever the vendor did with it
                billed = Usage(units=1, unit="call that may exist", cost_usd=estimate_usd,
                               unit_price_usd=estimate_usd)
                message = f"may be charged, counted at its estimate: {message}"
            take.cost_usd = billed.cost_usd  # a paid prediction whose fetch failed still cost
            held.actual_usd = billed.cost_usd
            pending.record("failed", message)
            rt.log_usage(**common, usage=billed.model_copy(
                update={"request_id": billed.request_id or take.request_id}),
                latency_s=time.perf_counter() - started, status="failed", note=message[:200])
            raise
        held.actual_usd = result.usage.cost_usd
        _finish(pending, rel, out, result, after)
        rt.log_usage(**common, usage=result.usage, latency_s=time.perf_counter() - started)
    return take, False


def _finish(pending: Pending, rel: str, out: Path, result: MediaResult,
            after: Callable[[Take, Path], None] | None) -> None:
    """Record a finished take (file, checksum, media facts), select it and save."""
    take = pending.take
    take.path = rel
    take.cost_usd = result.usage.cost_usd
    take.checksum = file_sha256(out)
    take.width, take.height = result.width, result.height
    take.duration_s, take.fps = result.duration_s, result.fps
    take.source_url = result.source_url
    if result.usage.request_id and not take.request_id:
        take.request_id = result.usage.request_id
    if after is not None:
        after(take, out)
    with pending.rt.guard:
        _select(pending.rt.state.scene(pending.scene_id), take.kind, take.id)
        pending.record("succeeded")


def in_flight(scene: Scene, kind: TakeKind) -> list[Take]:
    """Takes submitted to a remote provider and not finished (e.g. the kernel died waiting)."""
    return [t for t in _takes(scene, kind) if t.status == "running" and t.request_id]
