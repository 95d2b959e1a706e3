"""Running a campaign on Dask: admission against the budget, one task per variant, progress.

The notebook (the Dask client) decides what runs: variants whose last result is done for the
same recipe are skipped; the rest are priced and admitted in campaign order while the budget
holds, counting each shared scene once (a scene many variants share is paid once). A variant
that would take the campaign over its budget is refused here, before it reaches a worker, and
the campaign budget (kept by the scheduler on Dask, campaign/cluster.py; budget.json inline)
stops any request that would still overflow (an estimate can be off). Results are written to campaign.json as each variant finishes, so a notebook or a
worker that dies loses nothing that finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin
from tqdm.auto import tqdm

from nbvideo.campaign.cluster import ClusterNames, close_budget, open_budget
from nbvideo.campaign.models import CampaignState, VariantResult, VariantSpec, save_state
from nbvideo.campaign.status import StatusBoard
from nbvideo.campaign.worker import RESULT_FILE, run_variant
from nbvideo.campaign.workers import WorkerPlan, worker_plan
from nbvideo.errors import ClusterUnavailable, InvalidInput
from nbvideo.model.state import utcnow
from nbvideo.plan import routing
from nbvideo.plan.estimate import clip_estimate
from nbvideo.providers import ProviderSet, provider_set
from nbvideo.providers.catalog import get_model
from nbvideo.runtime.context import canonical
from nbvideo.runtime.shared_budget import SharedBudget

log = logging.getLogger(__name__)
INLINE = "inline"
GATEWAY = "gateway"
CONNECT_TIMEOUT_S = 20.0  # to a running scheduler given by address
# cluster="gateway": one single-threaded worker per variant to run, at most this many
# (NBVIDEO_GATEWAY_WORKERS overrides; a team wanting a bigger or adaptive cluster makes its own
# GatewayCluster and passes it). A worker the gateway cannot start within GATEWAY_START_S is
# an error, not an endless wait.
GATEWAY_MAX_WORKERS = 8
GATEWAY_START_S = 300.0
# A gateway worker owns one core: it renders one local clip at a time with one ffmpeg thread
# (a LocalCluster's workers are sized for the machine: campaign/workers.py).
ONE_CORE_EACH = WorkerPlan(cores=1, workers=1, ffmpeg_threads=1, renders=1).env()


# The LocalCluster we start has no dashboard, so its processes need not sample and poll for
# one. Measured idle on 2 workers (bench_campaign's notes): 13.7 ms of CPU a second per worker
# and 27 ms in the notebook's process (scheduler, nannies) with Dask's defaults; 3.5 and 8 ms
# with these. Over a campaign that is minutes long, and it is CPU the variants lose.
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,  # statistical profiler, every 10 ms
    "distributed.admin.tick.interval": "1s",  # event-loop health tick, default 20 ms
    "distributed.admin.system-monitor.interval": "5s",  # dashboard's CPU/net/disk, 500 ms
    "distributed.worker.memory.monitor-interval": "1s",  # memory limits, default 100 ms
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=64 KiB to hand freed memory back
    # at once. Setting it also turns off glibc's adaptive mmap threshold, so every video frame
    # (2.7 MB at 720p) a render allocates is a fresh mmap whose pages fault in again: 7-13 %
    # more CPU for the same variants (measured inline with and without it). The variables
    # unset here are left unset; bench_scale shows workers' peak memory stays flat without it.
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


# --------------------------------------------------------------------------- what to run

def is_current(root: Path, spec: VariantSpec, result: VariantResult | None) -> bool:
    """Done for this very recipe, with its exports still on disk."""
    if result is None or result.status != "done" or result.digest != spec.digest():
        return False
    return bool(result.exports) and all((root / spec.project / e).exists()
                                        for e in result.exports)


def recover(root: Path, state: CampaignState) -> None:
    """Take results that workers wrote into their projects but the notebook never recorded
    (it died, or a worker finished after the run was interrupted)."""
    for spec in state.variants:
        f = root / spec.project / RESULT_FILE
        known = state.results.get(spec.id)
        if f.exists():
            with contextlib.suppress(ValueError, OSError):
                res = VariantResult.model_validate_json(f.read_bytes())
                if known is None or (res.finished_at and (known.finished_at is None
                                                          or res.finished_at > known.finished_at)):
                    state.results[spec.id] = res


# --------------------------------------------------------------------------- money

def scene_prices(spec: VariantSpec, providers: dict[tuple[str, str], ProviderSet]
                 ) -> dict[str, float]:
    """Estimated clip cost per scene, keyed by what makes the request (so variants sharing a
    scene share the key): video model, aspect, resolution, fps, palette, position, scene."""
    pk = (spec.providers, canonical(spec.models))
    if pk not in providers:
        providers[pk] = provider_set(spec.providers, spec.models)
    ps = providers[pk]
    out: dict[str, float] = {}
    for n, scene in enumerate(spec.scenes, 1):
        if spec.model == routing.AUTO:  # the model the variant's project will route to
            try:
                name = routing.routes(ps, [scene], spec.brief, routing.AUTO,
                                      routing.check_policy(spec.policy), False,
                                      project_models=spec.models)[scene.id].chain[0]
            except InvalidInput:  # no model can make it: the worker says so; priced as is
                name = ps.video.model
        else:
            name = spec.model or ps.video.model
        _gen, usage, _note = clip_estimate(get_model(name), scene, spec.brief.resolution)
        sig = canonical({"model": name, "aspect": spec.aspect, "res": spec.brief.resolution,
                         "fps": spec.brief.fps, "palette": spec.palette, "n": n,
                         "scene": scene.model_dump(mode="json", include={
                             "beat", "title", "description", "visual_prompt", "shot", "camera",
                             "duration_s", "on_screen_text", "frame_seed", "clip_seed"})})
        out[hashlib.sha256(sig.encode()).hexdigest()] = usage.cost_usd
    return out


def made_scenes(state: CampaignState) -> list[str]:
    """The price keys of the scenes the campaign's finished variants made or shared: what its
    asset store holds, and what a follow-up campaign seeded from it gets for free."""
    providers: dict[tuple[str, str], ProviderSet] = {}
    done = [s for s in state.variants
            if (r := state.results.get(s.id)) is not None and r.status == "done"]
    return sorted(set(state.stocked).union(*(scene_prices(s, providers) for s in done)))


def admit(specs: list[VariantSpec], done: list[VariantSpec], limit: float | None,
          spent: float, stocked: Iterable[str] = ()
          ) -> tuple[list[tuple[VariantSpec, float]], list[VariantResult]]:
    """(admitted with their new cost, refused rows), in campaign order, sharing counted once;
    `stocked` scenes (already in the asset store) cost nothing."""
    providers: dict[tuple[str, str], ProviderSet] = {}
    paid: set[str] = set(stocked)
    for spec in done:
        paid |= set(scene_prices(spec, providers))
    reserved: dict[str, float] = {}
    admitted, refused = [], []
    for spec in specs:
        prices = scene_prices(spec, providers)
        new = {k: v for k, v in prices.items() if k not in paid and k not in reserved}
        need = sum(new.values())
        held = sum(reserved.values())
        total = spent + held + need
        if limit is not None and need > 0 and total > limit + 1e-9:
            refused.append(VariantResult(
                variant=spec.id, project=spec.project, status="refused", estimate_usd=need,
                digest=spec.digest(), finished_at=utcnow(),
                error=(f"variant {spec.id} refused before it was sent to a worker: "
                       f"${spent:.2f} spent + ${held:.2f} reserved for variants ahead + "
                       f"${need:.2f} estimated = ${total:.2f}, over the campaign budget of "
                       f"${limit:.2f}")))
            continue
        reserved.update(new)
        admitted.append((spec, need))
    return admitted, refused


# --------------------------------------------------------------------------- Dask

class WorkerEnv(WorkerPlugin):
    """A Dask worker plugin that sets environment variables in each worker process as it
    joins (those already running and those a gateway starts later), before any variant runs
    there: how a cluster we start but whose processes we do not launch gets ONE_CORE_EACH."""

    name = "nbvideo-worker-env"
    idempotent = True

    def __init__(self, env: dict[str, str]) -> None:
        self.env = dict(env)

    def setup(self, worker: Any) -> None:
        os.environ.update(self.env)


def gateway_workers(variants: int) -> int:
    """How many workers cluster="gateway" asks for: one per variant, capped."""
    raw = os.environ.get("NBVIDEO_GATEWAY_WORKERS", "")
    try:
        cap = int(raw) if raw else GATEWAY_MAX_WORKERS
    except ValueError:
        raise InvalidInput(f"NBVIDEO_GATEWAY_WORKERS must be a whole number of workers, "
                           f"got {raw!r}") from None
    if cap < 1:
        raise InvalidInput(f"NBVIDEO_GATEWAY_WORKERS must be 1 or more, got {cap}")
    return max(1, min(variants, cap))


@contextlib.contextmanager
def gateway_cluster(variants: int) -> Iterator[Any]:
    """A GatewayCluster on the hub's dask-gateway for this run, shut down after it.

    The gateway and its credentials are found the way dask-gateway finds them: dask config
    `gateway.address` (DASK_GATEWAY__ADDRESS), `gateway.auth.type` and `gateway.auth.kwargs`
    (https://gateway.dask.org/configuration-user.html). On a JupyterHub whose config leaves
    the auth at its default, the user's hub token (JUPYTERHUB_API_TOKEN) is used
    (auth="jupyterhub", https://gateway.dask.org/authentication.html)."""
    try:
        from dask_gateway import Gateway
    except ImportError:
        raise ClusterUnavailable(
            "cluster='gateway' needs the dask-gateway client, which is not installed here: "
            "pip install nbvideo[gateway] (or pip install dask-gateway)") from None
    import dask

    address = dask.config.get("gateway.address", None)
    if not address:
        raise ClusterUnavailable(
            "cluster='gateway' needs the address of a dask-gateway server: set "
            "DASK_GATEWAY__ADDRESS (or dask config gateway.address); a JupyterHub with "
            "dask-gateway sets it in your server's environment")
    auth: str | None = None
    if (os.environ.get("JUPYTERHUB_API_TOKEN") and not dask.config.get("gateway.auth.kwargs", {})
            and dask.config.get("gateway.auth.type", "basic") == "basic"):
        auth = "jupyterhub"  # on a hub: its token, not basic auth without a password

    def unavailable(exc: BaseException) -> ClusterUnavailable:
        return ClusterUnavailable(
            f"the dask-gateway at {address} did not start a cluster "
            f"({type(exc).__name__}: {str(exc).strip()[:300]}); check DASK_GATEWAY__ADDRESS "
            f"and your credentials (on a hub, JUPYTERHUB_API_TOKEN)")

    # Submit, then wait for it apart: once the gateway has named the cluster, whatever happens
    # while it starts (an error, a timeout, the user interrupting the wait) stops it, so no
    # cluster is left pending on the hub, holding its quota until the idle timeout.
    gateway: Any = None
    cluster: Any = None
    try:
        try:
            gateway = Gateway(address=address, auth=auth)
            name = gateway.submit()
        except Exception as exc:  # refused, 401/403, the server's own errors, ...
            raise unavailable(exc) from None
        try:
            cluster = gateway.connect(name, shutdown_on_close=True)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                gateway.stop_cluster(name)
            if isinstance(exc, Exception):
                raise unavailable(exc) from None
            raise
        cluster.scale(gateway_workers(variants))
        yield cluster
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.shutdown()
        if cluster is not None:  # its own Gateway, on the loop of ours: closed first
            _close_quietly(cluster.gateway)
        if gateway is not None:
            _close_quietly(gateway)


def _close_quietly(gateway: Any) -> None:
    """Close a dask-gateway Gateway. Its close is not idempotent with this distributed: its
    __del__ closes again and prints "Exception ignored ... the loop is not running"."""
    with contextlib.suppress(Exception):
        gateway.close()
    with contextlib.suppress(AttributeError):
        del gateway._loop_runner


@contextlib.contextmanager
def dask_client(cluster: Any, variants: int = 1, plan: WorkerPlan | None = None
                ) -> Iterator[Any]:
    """A Client for `cluster`: None starts a LocalCluster for this run, sized by `plan`
    (default: `worker_plan(variants)`, one single-threaded worker per core); "gateway"
    starts a cluster on the dask-gateway the environment names, one worker per variant
    (`variants`) up to GATEWAY_MAX_WORKERS, and shuts it down after the run; a "tcp://..."
    address connects to a running scheduler; a Client or a Cluster object is used as given
    (and left running)."""
    from distributed import Client, LocalCluster

    if isinstance(cluster, Client):
        yield cluster
        return
    if isinstance(cluster, str) and cluster == GATEWAY:
        with gateway_cluster(variants) as gc:
            client = gc.get_client()
            try:
                client.register_plugin(WorkerEnv(ONE_CORE_EACH))
                try:
                    client.wait_for_workers(1, timeout=GATEWAY_START_S)
                except TimeoutError:
                    raise ClusterUnavailable(
                        f"the dask-gateway started cluster {gc.name} but no worker joined it "
                        f"within {GATEWAY_START_S:g} s; nothing was sent. Check the gateway's "
                        f"worker limits and its logs") from None
                yield client
            finally:
                client.close()
        return
    if cluster is None:
        import dask

        plan = plan or worker_plan(variants)
        log.info("campaign: %s", plan.describe())
        with dask.config.set(QUIET_CLUSTER):
            local = LocalCluster(n_workers=plan.workers,
                                 threads_per_worker=plan.threads_per_worker, processes=True,
                                 dashboard_address=None, silence_logs=logging.ERROR,
                                 env=plan.env())
        client = Client(local)
        try:
            yield client
        finally:
            client.close()
            local.close()
        return
    if not isinstance(cluster, str) and not hasattr(cluster, "scheduler_address"):
        raise InvalidInput(f"cluster must be None, a scheduler address ('tcp://host:8786'), "
                           f"'gateway', a dask Client or a Cluster; got "
                           f"{type(cluster).__name__}")
    try:
        client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:  # nothing listening, a firewall, a TLS-only scheduler, ...
        where = cluster if isinstance(cluster, str) else type(cluster).__name__
        raise ClusterUnavailable(
            f"no Dask scheduler answered at {where} within {CONNECT_TIMEOUT_S:g} s ({exc}); "
            f"start one with 'dask scheduler' and workers with 'dask worker {where}', or "
            f"check the address and port") from None
    try:
        yield client
    finally:
        client.close()


def _lost(spec: VariantSpec, exc: BaseException) -> VariantResult:
    text = str(exc) or type(exc).__name__
    if type(exc).__name__ == "KilledWorker":
        text = f"the worker running it died ({text}); run the campaign again to redo it"
    return VariantResult(variant=spec.id, project=spec.project, status="failed",
                         error=text[:1000], digest=spec.digest(), finished_at=utcnow())


class CampaignBar:
    """One progress bar for the whole campaign: variants finished of those admitted, what
    came of them so far (done / failed / refused) and what they spent, the last one named."""

    def __init__(self, name: str, total: int, enabled: bool) -> None:
        self.name = name
        self.counts: Counter[str] = Counter()
        self.spent = 0.0
        self.bar = tqdm(total=total, desc=f"campaign {name}", unit="variant",
                        disable=not enabled, dynamic_ncols=True)

    def stage(self, text: str) -> None:
        """What the campaign is doing before any variant finishes (starting workers, ...)."""
        self.bar.set_description_str(f"campaign {self.name}: {text}")

    def say(self, text: str) -> None:
        """A line printed once above the bar (too long to be its label)."""
        if not self.bar.disable:
            tqdm.write(f"campaign {self.name}: {text}", file=sys.stderr)

    def add(self, res: VariantResult) -> None:
        self.counts[res.status] += 1
        self.spent += res.cost_usd
        said = " · ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        self.bar.set_postfix_str(f"{said} · ${self.spent:.2f} · last {res.variant}",
                                 refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def execute(root: Path, state: CampaignState, todo: list[tuple[VariantSpec, float]],
            cluster: Any, progress: bool,
            on_result: Callable[[VariantResult], None] | None = None,
            spent_usd: float = 0.0, board: StatusBoard | None = None,
            workers: int | None = None) -> None:
    """Run the admitted variants on Dask, recording each result as it arrives.

    `workers`: the LocalCluster's worker count when `cluster` is None (default: sized for
    the machine, campaign/workers.py); the plan is the progress bar's label.

    `board` (the live status table) learns when each variant starts and finishes: inline just
    before it runs; on Dask from the event its task logs when it starts (status.py).

    On Dask the campaign budget and the shared store's claims are kept by the scheduler
    (campaign/cluster.py): the budget starts at `spent_usd` and its spend is written back to
    budget.json when the run ends, however it ends."""
    if not todo:
        return
    bar = CampaignBar(state.name, len(todo), progress)
    if board is not None:
        board.queue([spec.id for spec, _ in todo])

    def record(spec: VariantSpec, need: float, res: VariantResult) -> None:
        res.estimate_usd = need
        state.results[spec.id] = res
        save_state(root, state)  # c.results (and campaign.json) have it before anyone is told
        if board is not None:
            board.finish(res)
        if on_result is not None:
            on_result(res)
        bar.add(res)

    try:
        if isinstance(cluster, str) and cluster == INLINE:  # one by one here, no Dask
            bar.stage("inline, one variant after another in this process")
            for spec, need in todo:
                if board is not None:
                    board.start(spec.id, "this process")
                record(spec, need, run_variant(spec.model_dump_json(by_alias=True), str(root)))
            return
        from distributed import as_completed

        run_id = uuid.uuid4().hex[:6]
        names = ClusterNames.for_run(root, run_id)
        plan = worker_plan(len(todo), workers) if cluster is None else None
        starts = plan is not None or (isinstance(cluster, str) and cluster == GATEWAY)
        bar.stage("starting workers" if starts else "connecting to the cluster")
        with dask_client(cluster, len(todo), plan) as client, cluster_budget(
                root, client, names, state.budget_usd, spent_usd):
            if plan is not None:  # what it chose and why, once; the bar keeps a short label
                bar.say(plan.describe())
                if board is not None:
                    board.where = plan.describe()
            n = len(client.scheduler_info().get("workers", {}))
            bar.stage(f"{n} worker{'s' if n != 1 else ''}")
            handle = names.model_dump_json()
            if board is not None:  # each task logs an event when it starts (status.py)
                client.subscribe_topic(names.started_topic, lambda ev: board.start(
                    str(ev[1].get("variant")), str(ev[1].get("on"))))
            futures = {client.submit(run_variant, spec.model_dump_json(by_alias=True),
                                     str(root), handle, key=f"nbvideo-{spec.id}-{run_id}",
                                     pure=False, priority=len(todo) - i): (spec, need)
                       for i, (spec, need) in enumerate(todo)}  # in campaign order
            try:
                for fut in as_completed(list(futures)):
                    spec, need = futures.pop(fut)
                    try:
                        res: VariantResult = fut.result()
                    except Exception as exc:  # the task never raises: its worker was lost
                        res = _lost(spec, exc)
                    # Let go of the result at once: a finished variant held in a worker's
                    # memory would be recomputed (re-exported) elsewhere if that worker died.
                    fut.release()
                    record(spec, need, res)
            except BaseException:  # interrupted: what has not started does not start
                client.cancel(list(futures))
                raise
            finally:
                if board is not None:
                    client.unsubscribe_topic(names.started_topic)
    finally:
        bar.close()


@contextlib.contextmanager
def cluster_budget(root: Path, client: Any, names: ClusterNames, limit_usd: float | None,
                   spent_usd: float) -> Iterator[None]:
    """The campaign budget on the scheduler for the run, its spend saved back after it."""
    open_budget(client, names, limit_usd, spent_usd)
    try:
        yield
    finally:
        final = close_budget(client, names)
        if final is not None:
            SharedBudget.at(root).settle(limit_usd, float(final["spent_usd"]))


def run(root: Path, state: CampaignState, cluster: Any = None, progress: bool = True,
        on_result: Callable[[VariantResult], None] | None = None,
        board: StatusBoard | None = None, workers: int | None = None) -> None:
    """Skip what is current, refuse what the budget cannot hold, run the rest.

    `board`: the live status table to keep (None: one of our own, shown if `progress`).
    `workers`: the LocalCluster's size when `cluster` is None (None: sized for the machine)."""
    if workers is not None:
        if cluster is not None:
            raise InvalidInput("workers sizes the LocalCluster run() starts (cluster=None); "
                               "a cluster you name has its own workers")
        worker_plan(1, workers)  # a bad count is refused before anything is saved
    own = board is None
    board = board if board is not None else StatusBoard(root, state, progress)
    try:
        _run(root, state, cluster, progress, on_result, board, workers)
    finally:
        if own:
            board.close()


def _run(root: Path, state: CampaignState, cluster: Any, progress: bool,
         on_result: Callable[[VariantResult], None] | None, board: StatusBoard,
         workers: int | None) -> None:
    recover(root, state)
    todo = [s for s in state.variants if not is_current(root, s, state.results.get(s.id))]
    todo_ids = {s.id for s in todo}
    done = [s for s in state.variants if s.id not in todo_ids]
    budget = SharedBudget.at(root)
    if isinstance(cluster, str) and cluster == INLINE:  # the workers are this process
        budget.set_limit(state.budget_usd, clear_in_flight=True)  # no run of ours is going on
        spent = budget.snapshot()["spent_usd"]
    else:  # the cluster keeps the budget; the campaign lock keeps other runs out of the file
        spent = budget.settle(state.budget_usd)
    admitted, refused = admit(todo, done, state.budget_usd, spent, state.stocked)
    for row in refused:
        state.results[row.variant] = row
    save_state(root, state)
    for row in refused:
        board.finish(row)
    execute(root, state, admitted, cluster, progress, on_result, spent_usd=spent, board=board,
            workers=workers)
