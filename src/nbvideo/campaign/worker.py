"""One variant, start to finish, in whatever process runs it (a Dask worker or the notebook).

`run_variant` is the task Dask ships: it takes the variant's spec as JSON and the campaign
folder, and returns a result row; it never raises, so one failed variant is a row that says
why, not a campaign that stops. The project it makes is an ordinary nbvideo project, opened
with the campaign's shared asset store and budget switched on: everything else (cache by
request key, takes, ledger, exports) is the project's own machinery.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from nbvideo.campaign.models import FINISHING_DIR, VariantResult, VariantSpec
from nbvideo.errors import InvalidInput, ProjectCorrupt
from nbvideo.keys import redact
from nbvideo.model.state import utcnow
from nbvideo.runtime.budget import Budget, BudgetExceeded
from nbvideo.runtime.context import Runtime
from nbvideo.runtime.session import LENGTH_CHOSEN
from nbvideo.runtime.shared import SharedAssets
from nbvideo.runtime.shared_budget import SharedBudget
from nbvideo.store.folder import atomic_write_bytes
from nbvideo.store.ledger import Ledger, LedgerEntry

RESULT_FILE = "variant-result.json"


def refused(exc: BaseException) -> BudgetExceeded | None:
    """The budget refusal behind an error, if that is what it was: the error itself, one of
    a job's scene failures (a ScenesFailed group), or its cause."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop(0)
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, BudgetExceeded):
            return cur
        if isinstance(cur, BaseExceptionGroup):
            todo.extend(cur.exceptions)
        nxt = cur.__cause__ or cur.__context__
        if nxt is not None:
            todo.append(nxt)
    return None


def adopt(rt: Runtime, spec: VariantSpec, campaign: Path) -> None:
    """Make the project's brief, answers and storyboard the spec's, keeping every take.

    A scene already in the project (same id) keeps its takes, so what is still current is
    reused by request key; scenes the spec no longer has are archived, as a re-plan does."""
    with rt.guard:
        st = rt.state
        if st.providers != spec.providers:
            raise InvalidInput(f"{rt.store.root} uses providers={st.providers!r} but the campaign "
                               f"asks for {spec.providers!r}; use a new campaign folder")
        old = {s.id: s for s in st.scenes}
        scenes = []
        for sc in spec.scenes:
            prev = old.pop(sc.id, None)
            if prev is not None:
                sc = sc.model_copy(update={
                    "frame_takes": prev.frame_takes, "clip_takes": prev.clip_takes,
                    "frame_take_id": prev.frame_take_id, "clip_take_id": prev.clip_take_id})
            scenes.append(sc)
        st.archived_scenes.extend(old.values())
        st.brief = spec.brief
        st.questions, st.answers = list(spec.questions), dict(spec.answers)
        st.palette, st.storyboard_title = list(spec.palette), spec.title
        st.structure = spec.structure
        st.scenes = scenes
        st.timeline = spec.timeline.model_copy(deep=True)
        if spec.finishing is not None:
            _place_files(campaign, rt.store.root, spec)
            st.finishing = spec.finishing.model_copy(deep=True)
        rt.save()


def _place_files(campaign: Path, project: Path, spec: VariantSpec) -> None:
    """The base project's finishing files (music, brand kit, logo) into this variant's
    project, from the campaign's finishing/ folder, each checked against its sha256."""
    for rel, sha in (spec.files or {}).items():
        data = (campaign / FINISHING_DIR / sha).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise ProjectCorrupt(f"{campaign / FINISHING_DIR / sha} changed since the campaign "
                                 "was made; make the campaign again from its base project")
        dest = project / rel
        if not dest.is_file() or dest.read_bytes() != data:
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(dest, data)


def _count(entries: list[LedgerEntry], phase: str) -> tuple[int, int]:
    """(made, taken from the shared store) among ledger rows of one phase."""
    made = sum(1 for e in entries if e.phase == phase and e.status == "succeeded")
    shared = sum(1 for e in entries if e.phase == phase and e.cache_hit
                 and e.note.startswith("shared:"))
    return made, shared


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its finished children (ffmpeg);
    on Windows, which has no getrusage, this process's alone."""
    try:
        import resource
    except ImportError:
        return time.process_time()
    me, kids = (resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def gates(folder: Path, cluster: str | None) -> tuple[SharedAssets, list[Budget],
                                                      Callable[[], None]]:
    """The shared store and the campaign budget a variant joins, and how to let go of them.

    Inline (`cluster` None) they are the campaign folder's: file locks. On Dask (`cluster`
    names the run's objects, campaign/cluster.py) the scheduler arbitrates both, so workers
    need no file lock that works across machines."""
    if cluster is None:
        return SharedAssets(folder), [SharedBudget.at(folder)], lambda: None
    from nbvideo.campaign.cluster import ClusterBudget, ClusterClaims, ClusterNames

    names = ClusterNames.model_validate_json(cluster)
    budget = ClusterBudget.on_worker(names)
    return SharedAssets(folder, claims=ClusterClaims(names)), [budget], budget.close


def run_variant(spec_json: str, root: str, cluster: str | None = None) -> VariantResult:
    """Make one variant's project, clips and export; return its result row (never raises).

    `cluster`: the run's cluster objects (a `ClusterNames` as JSON) when it runs on Dask."""
    from nbvideo.project import Project  # keeps the import of this module light for Dask

    spec = VariantSpec.model_validate_json(spec_json)
    folder = Path(root)
    started, cpu0 = time.perf_counter(), cpu_seconds()
    res = VariantResult(variant=spec.id, project=spec.project, digest=spec.digest(),
                        worker=f"{socket.gethostname()}:{os.getpid()}")
    path = folder / spec.project
    done: Callable[[], None] = lambda: None
    try:
        if cluster is not None:  # the notebook's status table shows it running, and where
            from nbvideo.campaign.cluster import ClusterNames
            from nbvideo.campaign.status import announce_start

            announce_start(ClusterNames.model_validate_json(cluster).started_topic, spec.id,
                           res.worker)
        shared, budgets, done = gates(folder, cluster)
        if (path / "project.json").exists():
            p = Project.open(path)
        else:  # the campaign chose the length: no "the brief says 30 s" note per variant
            b = spec.brief
            chosen = LENGTH_CHOSEN.set(True)
            try:
                p = Project.open(path, brief=b.text, aspect=b.aspect, duration_s=b.duration_s,
                                 resolution=b.resolution, fps=b.fps, template=b.template,
                                 providers=spec.providers, models=spec.models or None,
                                 seed=spec.seed)
            finally:
                LENGTH_CHOSEN.reset(chosen)
        with p:
            rt = p.runtime
            rt.share(shared, budgets, spec.provider_options or None)
            before = len(rt.ledger.entries())
            adopt(rt, spec, folder)
            p.storyboard()
            p.generate_clips(model=spec.model, policy=spec.policy).wait()
            exports = p.export(spec.export_name, formats=[spec.aspect], fit=spec.fit,
                               resolution=spec.brief.resolution)
            res.exports = [r.path for r in exports]
            res.status = "done"
            res.cost_usd = p.spent_usd
            new = rt.ledger.entries()[before:]
            res.frames_made, res.frames_shared = _count(new, "frames")
            res.clips_made, res.clips_shared = _count(new, "clips")
    except Exception as exc:  # reported on the row; the campaign goes on
        no = refused(exc)
        res.status = "refused" if no is not None else "failed"
        res.error = redact(str(no if no is not None else exc) or type(exc).__name__)[:1000]
        if (path / "ledger.jsonl").exists():
            res.cost_usd = float(sum(e.cost_usd for e in Ledger(path / "ledger.jsonl").entries()
                                     if e.kind == "actual"))
    finally:
        done()
    res.seconds = round(time.perf_counter() - started, 3)
    res.cpu_s = round(cpu_seconds() - cpu0, 3)
    res.finished_at = utcnow()
    if path.is_dir():  # the project remembers its own result, should the notebook die
        atomic_write_bytes(path / RESULT_FILE, res.model_dump_json(indent=1).encode())
    return res
