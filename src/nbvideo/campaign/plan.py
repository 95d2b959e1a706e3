"""Building a campaign's variants: one plan per length, then each variant's edits on top of it.

Why plan once per length and edit, instead of letting every variant plan itself: the planner
seeds its choices with the whole brief, so two variants that differ only in a hook line would
get unrelated storyboards — nothing to share, and ads that do not look like one campaign.
Here every variant of one length starts from the same scenes (same ids, seeds and prompts),
and a hook or a market changes only the scenes it names. Equal scenes then make equal
requests, which the shared asset store answers once for the whole campaign. Planner calls
made for the campaign are logged in its own ledger.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import ValidationError
from slugify import slugify

from nbvideo.campaign.models import FINISHING_DIR, Market, VariantSpec
from nbvideo.errors import BudgetExceeded, InvalidInput, from_validation, quote
from nbvideo.keys import redact
from nbvideo.model.brief_facts import PRIORITY
from nbvideo.model.brief_length import stated_duration
from nbvideo.model.look import palette_for
from nbvideo.model.state import Brief, Finishing, Question, Scene, Timeline
from nbvideo.model.vocabulary import DEFAULT_POLICY
from nbvideo.plan.questions import effective_answers, planner_estimate
from nbvideo.plan.scenes import validated_scene
from nbvideo.plan.storyboard import scene_seed
from nbvideo.providers import lifecycle, provider_set
from nbvideo.providers.base import PlanContext, Planner, ProviderError, Usage
from nbvideo.runtime.budget import Budget, gate, settling
from nbvideo.runtime.jobs import run_sync
from nbvideo.runtime.shared_budget import SharedBudget
from nbvideo.store.confine import confined_file
from nbvideo.store.folder import atomic_write_bytes
from nbvideo.store.ledger import Ledger, LedgerEntry

if TYPE_CHECKING:
    from nbvideo.project import Project

Plan = tuple[list[Scene], str, str]  # scenes, title, structure
HookEdit = dict[str, Any]


def _brief(base: dict[str, Any], **changes: Any) -> Brief:
    try:
        return Brief.model_validate({**base, **{k: v for k, v in changes.items()
                                                if v is not None}})
    except ValidationError as exc:
        raise from_validation(exc) from None


def finishing_files(p: Project) -> tuple[Finishing | None, dict[str, Path]]:
    """The base project's finishing (None when it has set none) and the files in the project
    it names: a music file, a brand kit file and that kit's logo. Every variant gets them, so
    a campaign made from a finished ad keeps its voice, music and brand."""
    st = p.state
    if st.finishing == Finishing():
        return None, {}
    f = st.finishing
    root = p.path.resolve()
    paths: list[Path] = []
    if f.music not in ("bed", "none"):
        paths.append(confined_file(f.music, field="finishing.music",
                                   roots=[("the project folder", root)]))
    kit = p.runtime.brand_kit()
    if kit is not None:  # a kit file in the project, with its logo and fonts beside it
        paths += [kit.font_path(r) for r in ("headline", "body", "caption")]
        logo = kit.logo_path()
        if logo is not None:
            paths.append(logo)
        if f.brand and (f.brand.lower().endswith(".json") or "/" in f.brand):
            paths.append(confined_file(f.brand, field="finishing.brand",
                                       roots=[("the project folder", root)]))
    files = {q.resolve().relative_to(root).as_posix(): q.resolve() for q in paths
             if q.resolve().is_relative_to(root)}  # a bundled kit's files are everywhere
    return f.model_copy(deep=True), files


def stash_files(files: Mapping[str, Path], root: Path) -> dict[str, str]:
    """Copy the finishing files into the campaign (finishing/<sha256>), where every worker
    reads them; returns path in the project -> sha256."""
    out: dict[str, str] = {}
    for rel, src in files.items():
        data = src.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        dest = root / FINISHING_DIR / sha
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(dest, data)
        out[rel] = sha
    return out


def copy_files(specs: Sequence[VariantSpec], source: Path, root: Path) -> None:
    """The finishing files these specs name, from campaign `source` into campaign `root`."""
    for sha in sorted({sha for s in specs for sha in (s.files or {}).values()}):
        dest = root / FINISHING_DIR / sha
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(dest, (source / FINISHING_DIR / sha).read_bytes())


def strip(scene: Scene) -> Scene:
    """The scene as a plan: no takes, nothing chosen."""
    return scene.model_copy(update={"frame_takes": [], "clip_takes": [], "frame_take_id": None,
                                    "clip_take_id": None}, deep=True)


def plan_with(planner: Planner, brief: Brief, questions: list[Question], answers: dict[str, str],
              seed: int, ledger: Ledger, note: str, budget: Budget | None = None) -> Plan:
    """Ask the planner for a storyboard (logged in the campaign's ledger), seeded per scene
    exactly as a project's own plan would be."""
    ctx = PlanContext(brief=brief, questions=questions,
                      answers=effective_answers(questions, answers), seed=seed)
    result = ask(planner, "storyboard", ctx, ledger, note, budget)
    scenes = [strip(sc).model_copy(update={"frame_seed": scene_seed(seed, sc.id, "frame"),
                                           "clip_seed": scene_seed(seed, sc.id, "clip")})
              for sc in result.storyboard.scenes]
    return scenes, result.storyboard.title, result.storyboard.structure


def campaign_budget(ledger: Ledger, limit_usd: float | None) -> Budget | None:
    """The campaign's budget as the money gate sees it while planning: what its own ledger
    (planning) and its variants' workers (the shared budget file) have spent."""
    if limit_usd is None:
        return None
    shared = SharedBudget.at(ledger.path.parent)

    def spent() -> float:
        df = ledger.to_pandas()
        own = float(df.loc[df["kind"] == "actual", "cost_usd"].sum())
        return own + shared.snapshot()["spent_usd"]

    return Budget("campaign budget", limit_usd, spent)


def ask(planner: Planner, phase: Literal["questions", "storyboard"], ctx: PlanContext,
        ledger: Ledger, note: str, budget: Budget | None) -> Any:
    """One planner call for a campaign, through the money gate (against the campaign's
    budget), logged in the campaign's ledger, refused or failed calls too."""
    estimate = planner_estimate(planner, phase, ctx)
    common: dict[str, Any] = dict(phase=phase, provider=planner.provider, model=planner.model,
                                  estimated_usd=estimate or None, note=note)

    def refused(exc: BudgetExceeded) -> None:
        ledger.append(LedgerEntry(**{**common, "note": str(exc)[:200]}, status="refused"))

    def logged(u: Usage, started: float, **extra: Any) -> None:
        with settling(u.cost_usd):  # the hold shrinks as the row lands: counted once
            ledger.append(LedgerEntry(**{**common, **extra}, units=u.units, unit=u.unit,
                                      unit_price_usd=u.unit_price_usd, cost_usd=u.cost_usd,
                                      request_id=u.request_id,
                                      latency_s=time.perf_counter() - started))

    call = planner.questions if phase == "questions" else planner.storyboard
    lifecycle.check(planner.model)  # a shut-down model is refused before the money gate
    with gate([budget] if budget is not None else [], estimate,
              f"campaign {phase} from {planner.model} ({note})", refused) as held:
        started = time.perf_counter()
        try:
            result = run_sync(call(ctx))  # type: ignore[operator]
        except ProviderError as exc:
            held.actual_usd = exc.usage.cost_usd
            logged(exc.usage, started, status="failed", note=redact(str(exc))[:200])
            raise
        held.actual_usd = result.usage.cost_usd
        logged(result.usage, started)
    return result


# --------------------------------------------------------------------------- edits

def parse_markets(markets: Any) -> list[Market | None]:
    """[None] for no markets; else Market objects from names, dicts or a name -> changes map.

    ``{"DE": "Jetzt kaufen"}`` is shorthand for ``{"DE": {"cta": "Jetzt kaufen"}}``."""
    if markets is None:
        return [None]
    if isinstance(markets, Mapping):
        markets = [{"name": k, **({"cta": v} if isinstance(v, str) else dict(v or {}))}
                   for k, v in markets.items()]
    out: list[Market | None] = []
    for m in markets:
        try:
            out.append(m if isinstance(m, Market) else
                       Market(name=m) if isinstance(m, str) else Market.model_validate(m))
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"markets: {quote(m)}: ") from None
    names = [slugify(m.name) for m in out if m]
    if len(set(names)) != len(names) or not all(names):
        raise InvalidInput(f"markets need distinct names with letters or digits, got {names}")
    return out


def parse_hooks(hooks: Sequence[str | Mapping[str, Any]] | None) -> list[HookEdit | None]:
    """A hook is the opening scene's on-screen text, or a dict of its fields to change."""
    if hooks is None:
        return [None]
    if isinstance(hooks, str):
        hooks = [hooks]
    out = [{"on_screen_text": h} if isinstance(h, str) else dict(h) for h in hooks]
    seen: dict[str, str] = {}
    for h in out:  # 'Wet feet again?' and 'wet feet  again' are one hook, paid twice
        text = str(h.get("on_screen_text", h))
        key = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
        if key in seen:
            raise InvalidInput(f"hooks repeat: {quote(seen[key])} and {quote(text)}; every "
                               f"hook in a campaign must be its own")
        seen[key] = text
    return out


def _first(scenes: list[Scene], beat: str, last: bool = False) -> int | None:
    idx = [i for i, s in enumerate(scenes) if s.beat == beat]
    return (idx[-1] if last else idx[0]) if idx else None


def apply_edits(scenes: list[Scene], fps: int, hook: HookEdit | None,
                market: Market | None) -> list[Scene]:
    """The plan with a variant's hook and market changes; other scenes stay identical.

    A market's copy for a beat the plan has not got (a short cut without 'proof') is skipped."""
    out = [s.model_copy(deep=True) for s in scenes]

    def edit(i: int, changes: dict[str, Any], who: str) -> None:
        try:
            out[i] = validated_scene(out[i], changes, fps)
        except InvalidInput as exc:
            raise InvalidInput(f"{who}: {exc}") from None

    if hook:
        edit(_first(out, "hook") or 0, hook, f"hook {hook.get('on_screen_text', hook)!r}")
    if market is not None:
        if market.cta:
            i = _first(out, "call-to-action", last=True)
            edit(len(out) - 1 if i is None else i, {"on_screen_text": market.cta},
                 f"market {market.name!r}")
        for beat, text in market.copy_lines.items():
            i = _first(out, beat)
            if i is not None:
                edit(i, {"on_screen_text": text}, f"market {market.name!r}")
    return out


def variant_id(parts: Iterable[str]) -> str:
    return slugify("-".join(p for p in parts if p), max_length=100)


# --------------------------------------------------------------------------- from a project

def from_project(p: Project, ledger: Ledger, *, markets: Any = None,
                 hooks: Sequence[str | Mapping[str, Any]] | None = None,
                 durations: Sequence[float] | None = None, aspects: Sequence[str] | None = None,
                 model: str | None = None, policy: str = DEFAULT_POLICY, fit: str = "crop",
                 export_name: str = "ad", budget_usd: float | None = None) -> list[VariantSpec]:
    """Every combination of markets × hooks × durations × aspects, built on `p`'s plan.

    The base project's own storyboard (with your edits) is used for its own length; other
    lengths are planned from the same brief and answers."""
    p.questions  # noqa: B018 - ask them first (once), as the project would
    st = p.state
    base = st.brief.model_dump()
    market_list, hook_list = parse_markets(markets), parse_hooks(hooks)
    durs = list(dict.fromkeys(float(d) for d in (durations or [st.brief.duration_s])))
    asps = list(dict.fromkeys(aspects or [st.brief.aspect]))
    answers = effective_answers(st.questions, st.answers)
    palette = st.palette or palette_for(st.brief.text, answers)
    plans: dict[float, Plan] = {}
    for d in durs:
        brief = _brief(base, duration_s=d)
        if st.scenes and math.isclose(d, st.brief.duration_s):
            plans[d] = ([strip(s) for s in st.scenes], st.storyboard_title, st.structure)
        else:
            plans[d] = plan_with(p.runtime.providers.planner, brief, st.questions, st.answers,
                                 st.seed, ledger, f"campaign plan for {d:g}s",
                                 campaign_budget(ledger, budget_usd))
    specs = []
    for market in market_list:
        for h, hook in enumerate(hook_list, 1):
            for d in durs:
                scenes, title, structure = plans[d]
                edited = apply_edits(scenes, st.brief.fps, hook, market)
                ids = {s.id for s in edited}
                for aspect in asps:
                    vid = variant_id([market.name if market else "",
                                      f"h{h}" if hook is not None else "", f"{d:g}s",
                                      aspect.replace(":", "x")])
                    specs.append(VariantSpec(
                        id=vid, market=market.name if market else None,
                        hook=None if hook is None else str(hook.get("on_screen_text", hook)),
                        duration_s=d, aspect=aspect,  # type: ignore[arg-type]
                        project=f"variants/{vid}",
                        providers=st.providers, models=dict(st.models), seed=st.seed,
                        provider_options={k: dict(v) for k, v in
                                          p.runtime.providers.options.items()},
                        brief=_brief(base, duration_s=d, aspect=aspect),
                        questions=st.questions, answers=dict(st.answers), palette=palette,
                        title=title, structure=structure, scenes=edited,
                        timeline=Timeline(edits={k: v for k, v in st.timeline.edits.items()
                                                 if k in ids}),
                        model=model, policy=policy, fit=fit,  # type: ignore[arg-type]
                        export_name=export_name))
    return specs


# --------------------------------------------------------------------------- from a table

OPTION_COLUMNS = ("variant", "brief", "aspect", "duration_s", "resolution", "fps", "template",
                  "seed", "hook")


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def from_table(table: pd.DataFrame, ledger: Ledger, *, providers: str = "local",
               models: Mapping[str, str] | None = None, model: str | None = None,
               policy: str = DEFAULT_POLICY, fit: str = "crop",
               export_name: str = "ad", budget_usd: float | None = None) -> list[VariantSpec]:
    """One variant per row: column `brief` (required), optional `variant`, `aspect`,
    `duration_s`, `resolution`, `fps`, `template`, `seed`, `hook`; any other column answers
    the question of that id (audience, tone, cta, ... or a template's own)."""
    if "brief" not in table.columns:
        raise InvalidInput(f"the table needs a 'brief' column; it has {list(table.columns)}")
    planner = provider_set(providers, models).planner
    from nbvideo.model.templates import find_template

    specs: list[VariantSpec] = []
    for n, (_idx, row) in enumerate(table.iterrows(), 1):
        cells = {str(k): _cell(v) for k, v in row.items()}
        where = f"row {n}"
        tmpl = find_template(cells.get("template"))
        allowed = {*PRIORITY, "style", *(q.id for q in (tmpl.questions if tmpl else []))}
        extra = {k: v for k, v in cells.items() if k not in OPTION_COLUMNS and v is not None}
        unknown = sorted(set(extra) - allowed)
        if unknown:
            raise InvalidInput(f"{where}: column(s) {', '.join(unknown)} are not options or "
                               f"questions; options: {', '.join(OPTION_COLUMNS)}; questions: "
                               f"{', '.join(sorted(allowed))}")
        defaults = {"aspect": tmpl.aspect, "duration_s": tmpl.duration_s} if tmpl else {}
        if stated_duration(str(cells.get("brief") or "")) is not None:
            defaults.pop("duration_s", None)  # the brief's own length beats the template's
        try:
            brief = _brief({"text": cells["brief"] or "", **defaults},
                           **{k: cells.get(k) for k in ("aspect", "duration_s", "resolution",
                                                        "fps", "template")})
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc}") from None
        seed = int(cells.get("seed") or 7)
        ctx = PlanContext(brief=brief, seed=seed)
        budget = campaign_budget(ledger, budget_usd)
        questions = ask(planner, "questions", ctx, ledger, f"campaign: questions, {where}",
                        budget).questions
        answers = {k: " ".join(str(v).split()) for k, v in extra.items()}
        scenes, title, structure = plan_with(planner, brief, questions, answers, seed, ledger,
                                             f"campaign plan for {where}", budget)
        hook = parse_hooks([cells["hook"]])[0] if cells.get("hook") else None
        vid = variant_id([str(cells.get("variant") or f"row-{n}")])
        specs.append(VariantSpec(
            id=vid, hook=cells.get("hook"), duration_s=brief.duration_s, aspect=brief.aspect,
            project=f"variants/{vid}", providers=providers,
            models=dict(models or {}),  # type: ignore[arg-type]
            seed=seed, brief=brief, questions=questions, answers=answers,
            palette=palette_for(brief.text, effective_answers(questions, answers)), title=title,
            structure=structure, scenes=apply_edits(scenes, brief.fps, hook, None), model=model,
            policy=policy, fit=fit, export_name=export_name))  # type: ignore[arg-type]
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"variant names must be unique; got {ids}")
    return specs


def check_unique(specs: list[VariantSpec], root: Path) -> None:
    seen: dict[str, int] = {}
    for s in specs:
        seen[s.id] = seen.get(s.id, 0) + 1
    dup = [k for k, v in seen.items() if v > 1]
    if dup:
        raise InvalidInput(f"{root}: variants repeat: {', '.join(dup)} (give distinct markets, "
                           f"hooks, durations and aspects)")
