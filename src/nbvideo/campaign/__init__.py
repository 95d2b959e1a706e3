"""Campaigns: one concept as many ads (markets × hooks × lengths × aspects), run on Dask.

>>> import nbvideo as nv
>>> p = nv.Project.open("projects/shoe", brief="30s ad for a trail shoe")  # doctest: +SKIP
>>> c = nv.variants(p, markets={"US": "Shop now", "DE": "Jetzt kaufen"},
...                 hooks=["Wet feet again?", "Built for the storm"],
...                 durations=[15, 30], aspects=["9:16", "16:9"])     # doctest: +SKIP
>>> c.estimate()      # what it would cost, shared scenes counted once  # doctest: +SKIP
>>> c.run()           # LocalCluster; or cluster="tcp://scheduler:8786"  # doctest: +SKIP
>>> c.results         # variant, status, project, exports, cost, error  # doctest: +SKIP
>>> w = c.winner("ctr")  # after posting: the best variant, with its probability  # doctest: +SKIP
>>> c.more_like(w, n=3)  # a follow-up campaign keeping its hook and look  # doctest: +SKIP

Each variant is an ordinary project under ``<campaign>/variants/``. The projects share a
content-addressed asset store, so a frame or clip that several variants need is made (and
paid) once and reaches the others as a cache hit; a campaign budget holds across all of them.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import pandas as pd
from typing_extensions import deprecated

from nbvideo.campaign.models import (
    CampaignState,
    Market,
    Origin,
    VariantResult,
    VariantSpec,
    load_state,
)
from nbvideo.campaign.models import save_state as _save
from nbvideo.errors import InvalidInput, NbvideoError, ProjectExists, ProjectLocked, ProjectNotFound
from nbvideo.model.checked import budget
from nbvideo.model.vocabulary import DEFAULT_POLICY
from nbvideo.runtime.shared import SharedAssets
from nbvideo.runtime.shared_budget import SharedBudget
from nbvideo.store.folder import slug_path
from nbvideo.store.ledger import Ledger

if TYPE_CHECKING:
    from nbvideo.campaign.status import StatusBoard
    from nbvideo.campaign.winner import Winner
    from nbvideo.project import Project

__all__ = ["Campaign", "CampaignExists", "Market", "Origin", "VariantResult", "VariantSpec",
           "batch", "variants"]


class CampaignExists(ProjectExists):
    """A follow-up campaign's folder already exists; nothing was written."""

RESULT_COLUMNS = ["variant", "status", "project", "exports", "cost_usd", "estimate_usd",
                  "frames_made", "frames_shared", "clips_made", "clips_shared", "seconds",
                  "cpu_s", "error"]


class Campaign:
    """A folder of variant projects that share assets and a budget; run them with `run()`."""

    def __init__(self, root: Path, state: CampaignState) -> None:
        self._root = Path(root).resolve()
        self._state = state
        self._board: StatusBoard | None = None  # the live status table of a run going on

    # ------------------------------------------------------------------ open / build
    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Campaign:
        """Reopen a campaign folder with its variants and results."""
        root = slug_path(path)
        try:
            return cls(root, load_state(root))
        except FileNotFoundError:
            raise ProjectNotFound(f"no nbvideo campaign at {root} (no campaign.json)") from None

    @classmethod
    def _create(cls, root: Path, name: str, specs: list[VariantSpec],
                budget_usd: float | None, base: str | None) -> Campaign:
        from nbvideo.campaign import plan

        plan.check_unique(specs, root)
        try:
            state = load_state(root)  # same folder again: new recipes, results kept
        except FileNotFoundError:
            state = CampaignState(name=name)
        state.variants, state.base = specs, base
        state.results = {k: v for k, v in state.results.items() if k in {s.id for s in specs}}
        if budget_usd is not None:
            state.budget_usd = _dollars(budget_usd)
        _save(root, state)
        return cls(root, state)

    # ------------------------------------------------------------------ basics
    @property
    def path(self) -> Path:
        """The campaign folder: campaign.json, its ledger and the variant projects."""
        return self._root

    @property
    def name(self) -> str:
        """The campaign's name (its folder's name when made)."""
        return self._state.name

    @property
    def budget_usd(self) -> float | None:
        """The budget across all variants and workers, in dollars (None: no limit); setting it
        saves the campaign."""
        return self._state.budget_usd

    @budget_usd.setter
    def budget_usd(self, value: float | None) -> None:
        self._state.budget_usd = None if value is None else _dollars(value)
        _save(self._root, self._state)

    @property
    def variants(self) -> pd.DataFrame:
        """One row per variant: what it changes and where its project lives."""
        rows = [{"variant": s.id, "market": s.market, "hook": s.hook, "duration_s": s.duration_s,
                 "aspect": s.aspect, "scenes": len(s.scenes), "brief": s.brief.text,
                 "project": str(self._root / s.project)} for s in self._state.variants]
        return pd.DataFrame(rows, columns=["variant", "market", "hook", "duration_s", "aspect",
                                           "scenes", "brief", "project"])

    # ------------------------------------------------------------------ money
    def estimate(self) -> pd.DataFrame:
        """What each variant would add to the bill, in campaign order, with a total on top.

        `alone_usd` is its clips priced on their own; `new_usd` counts only scenes no
        earlier (or finished) variant has, since a shared scene is made once, nor the source
        campaign's (a `more_like` campaign's store starts with them). Nothing is spent."""
        from nbvideo.campaign import runner

        runner.recover(self._root, self._state)
        providers: dict[Any, Any] = {}
        seen: set[str] = set(self._state.stocked)  # in the store from the source campaign
        rows = []
        for spec in self._state.variants:
            prices = runner.scene_prices(spec, providers)
            current = runner.is_current(self._root, spec, self._state.results.get(spec.id))
            new = {k: v for k, v in prices.items() if k not in seen}
            seen |= set(prices)
            rows.append({"variant": spec.id, "scenes": len(prices),
                         "shared_scenes": len(prices) - len(new),
                         "alone_usd": sum(prices.values()),
                         "new_usd": 0.0 if current else sum(new.values()),
                         "note": "done: re-running reuses it" if current else ""})
        body = pd.DataFrame(rows, columns=["variant", "scenes", "shared_scenes", "alone_usd",
                                           "new_usd", "note"])
        total = pd.DataFrame([{
            "variant": "total", "scenes": int(body["scenes"].sum()),
            "shared_scenes": int(body["shared_scenes"].sum()),
            "alone_usd": float(body["alone_usd"].sum()), "new_usd": float(body["new_usd"].sum()),
            "note": f"budget ${self.budget_usd:.2f}" if self.budget_usd is not None else "",
        }])
        return pd.concat([total, body], ignore_index=True)

    @property
    def spent_usd(self) -> float:
        """What every variant's project has spent (their ledgers), plus campaign planning."""
        df = self.costs
        return float(df.loc[df["kind"] == "actual", "cost_usd"].sum()) if len(df) else 0.0

    # ------------------------------------------------------------------ run
    def run(self, cluster: Any = None, *, progress: bool = True,
            workers: int | None = None) -> pd.DataFrame:
        """Run every variant that is not done for its current recipe; return `results`.

        A variant that fails (or whose worker dies) is a row with status "failed" and the
        error; one the budget cannot hold is "refused" with the numbers; the others go on.
        Running again redoes only those, and any whose recipe changed.

        On Dask the scheduler keeps the campaign budget and decides which worker makes each
        shared frame or clip (a distributed Lock and Variable), so the workers need no file
        lock across machines; a paid job sent by a worker that died is resumed, not paid for
        again.

        Parameters
        ----------
        cluster : None for a LocalCluster made for this run (processes, sized for the machine:
            one single-threaded worker per core it may use, fewer for fewer variants, each
            worker's ffmpeg on its share of the cores; what it chose is printed as it starts);
            a scheduler address such as "tcp://10.0.0.5:8786" (the campaign folder must be on
            storage the workers share); "gateway" for a cluster started for this run on the
            hub's dask-gateway (DASK_GATEWAY__ADDRESS, your hub token; one worker per variant,
            at most 8; shut down after; needs `pip install nbvideo[gateway]`); a dask Client
            or Cluster you made (left running); or "inline" to run them one by one in this
            process without Dask.
        progress : show a progress bar over the variants and, in a notebook, a status table
            (one row per variant: queued, running on which worker, done, failed, refused) that
            updates in place as variants start and finish (see `status()`).
        workers : with cluster=None, the LocalCluster's worker count instead of one per core
            (e.g. 1 to leave a core free for the notebook); the cores are shared between them.

        Examples
        --------
        >>> c = nv.Campaign.open("campaigns/cup")  # doctest: +SKIP
        >>> c.run(cluster="tcp://10.0.0.5:8786")   # doctest: +SKIP
        >>> c.run(cluster="gateway")               # on a JupyterHub  # doctest: +SKIP
        """
        from nbvideo.campaign import runner
        from nbvideo.campaign.status import StatusBoard

        lock = filelock.FileLock(str(self._root / ".campaign.lock"), is_singleton=False)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            raise ProjectLocked(f"campaign {self._root} is running in another process") from None
        board = self._board = StatusBoard(self._root, self._state, progress)
        try:
            runner.run(self._root, self._state, cluster=cluster, progress=progress, board=board,
                       workers=workers)
        finally:
            board.close()
            self._board = None
            lock.release()
        return self.results

    def status(self) -> pd.DataFrame:
        """One row per variant: variant, status, worker, seconds, cost_usd, exports, error.

        While a run is going on (from another thread) a variant is "queued" or "running on
        <worker>" (`seconds` so far); otherwise, and after a run, its last result: done,
        failed, refused, "changed" (its recipe changed since) or "pending" (never run). This
        is the table `run()` keeps updated in the notebook.

        >>> c.run()                                # doctest: +SKIP
        >>> c.status()                             # doctest: +SKIP
        """
        from nbvideo.campaign.status import status_table

        board = self._board
        return board.table() if board is not None else status_table(self._root, self._state)

    @property
    def results(self) -> pd.DataFrame:
        """One row per variant: status, project, exports, cost, sharing, time, error."""
        rows = []
        for spec in self._state.variants:
            r = self._state.results.get(spec.id) or VariantResult(variant=spec.id,
                                                                  project=spec.project)
            stale = r.status == "done" and r.digest != spec.digest()
            row = r.model_dump(include=set(RESULT_COLUMNS))
            row["status"] = "changed" if stale else r.status
            row["project"] = str(self._root / spec.project)
            row["exports"] = [str(self._root / spec.project / e) for e in r.exports]
            rows.append(row)
        return pd.DataFrame(rows, columns=RESULT_COLUMNS)

    @deprecated("Campaign.frame() is deprecated; use Campaign.results "
                "(\"frame\" means a storyboard image)")
    def frame(self) -> pd.DataFrame:
        """Deprecated alias of `results`; removed in the next release."""
        return self.results

    def project(self, variant: str, read_only: bool = False) -> Project:
        """Open one variant's project (e.g. to look at it, or fix a scene by hand)."""
        from nbvideo.project import Project

        try:
            spec = self._state.spec(variant)
        except KeyError as exc:
            raise InvalidInput(str(exc.args[0])) from None
        return Project.open(self._root / spec.project, read_only=read_only)

    # ------------------------------------------------------------------ packaging and posting
    def package(self, presets: Sequence[str] | str, name: str = "ad", *,
                variants: Sequence[str] | None = None,
                accept: bool | Sequence[str] = ()) -> pd.DataFrame:
        """Distribution packages for every finished variant (`p.package` in each): one row
        per variant and preset; a variant that cannot be packaged says why on its row.

        >>> c.package(["tiktok", "reels", "shorts"], accept=True)  # doctest: +SKIP
        """
        from nbvideo.campaign.publishing import package_variants

        return package_variants(self, presets, name, variants=variants, accept=accept)

    def publish(self, platform: str, when: Any = None, *, package: str | None = None,
                stagger: Any = None, variants: Sequence[str] | None = None,
                again: bool = False) -> pd.DataFrame:
        """Post every finished variant's package to `platform` now, or schedule them from
        `when`, the i-th variant `i * stagger` later (`nbvideo publish --due CAMPAIGN` posts
        them when due, `nv.calendar(CAMPAIGN)` lists them). Each is the variant project's own
        `p.publish`: checked, resumable, never posted twice. One row per variant.

        >>> c.publish("tiktok", "2026-12-24T09:00+01:00", stagger=timedelta(hours=1))  # doctest: +SKIP
        """
        from nbvideo.campaign.publishing import publish_variants

        return publish_variants(self, platform, when, package=package, stagger=stagger,
                                variants=variants, again=again)

    @property
    def posts(self) -> pd.DataFrame:
        """Every variant's posts (column `variant` first), oldest first."""
        from nbvideo.deliver.publish import posts_table

        frames = [posts_table(self._root / s.project).assign(variant=s.id)
                  for s in self._state.variants if (self._root / s.project).is_dir()]
        frames = [f for f in frames if len(f)]
        if not frames:
            return posts_table(self._root).assign(variant="")
        out = pd.concat(frames, ignore_index=True)
        return out[["variant", *[c for c in out.columns if c != "variant"]]]

    # ------------------------------------------------------------------ the performance loop
    @property
    def origin(self) -> Origin | None:
        """Where this campaign came from when `more_like` made it: the source campaign, its
        winning variant, the metric and confidence it won with, the axis varied."""
        return self._state.origin

    def winner(self, metric: str = "ctr", data: pd.DataFrame | None = None, *,
               platform: str | None = None, min_views: int = 1000, threshold: float = 0.95,
               draws: int = 20_000, seed: int = 0, refresh: bool = True) -> Winner:
        """The best variant on `metric`, with the probability that it is the best.

        A variant's posts are added up across platforms (or `platform` alone). Rates with
        counts behind them (ctr = clicks / impressions; like_rate, share_rate, comment_rate,
        engagement_rate per view) use a Beta-Binomial posterior; retention and avg_view_s a
        conservative normal approximation; views_per_day a Gamma-Poisson over the days since
        posting. Raw counts (views, clicks...) are refused: they grow with how long and how
        hard each variant was pushed. The leader is always named; `decided` is True only when
        every compared variant has `min_views` (impressions for ctr) and the leader's
        probability reaches `threshold` (else `reason` says what is missing).

        >>> w = c.winner("ctr")                   # doctest: +SKIP
        >>> w                                     # doctest: +SKIP
        h2-8s-9x16 wins on ctr (4.1% vs 3.2%), 97% probability it is the best of 4
        >>> w.table                               # doctest: +SKIP

        Parameters
        ----------
        metric : ctr, like_rate, share_rate, comment_rate, engagement_rate, retention,
            avg_view_s or views_per_day.
        data : the performance table (columns as `nv.performance()` gives: variant, platform,
            clicks, impressions, views, ...); None fetches it for this campaign.
        platform : compare on one platform's posts only.
        min_views, threshold : the evidence a decision needs.
        draws, seed : Monte Carlo draws and their seed (the same data give the same answer).
        refresh : with data=None, fetch the platforms' latest numbers first.
        """
        from nbvideo.campaign.winner import judge

        if data is None:
            from nbvideo.deliver.performance import performance  # the publishing phase's table

            data = performance(self._root, refresh=refresh)
        return judge(data, self._state.variants, campaign=str(self._root), metric=metric,
                     platform=platform, min_views=min_views, threshold=threshold, draws=draws,
                     seed=seed)

    def more_like(self, winner: Winner | str, n: int | None = None, *, vary: str = "cta",
                  values: Any = None, path: str | os.PathLike[str] | None = None,
                  aspect: str | None = None, budget_usd: float | None = None) -> Campaign:
        """A new campaign of `n` variants that keep the winner's hook, scenes and look, and
        vary one thing worth testing next.

        The winning variant's recipe is kept whole (its hook scene untouched, the same
        structure, palette, providers, models, aspect and length); `vary` picks the axis:
        "cta" (default: the end card's line; `values` your lines, else the planner's other
        choices), "seed" (new takes of every scene but the hook; `values` the seeds),
        "copy" (`values` one {beat: text} dict per variant, the hook's beat excepted) or
        "market" (`values` markets as `nv.variants` takes them). The new campaign records
        where it came from (`origin`: source, variant, metric, confidence, axis) and its asset
        store starts with the source's files, so shared scenes are not paid again. It goes
        next to this one (``<name>-<variant>-<vary>``) unless `path` says otherwise, and is
        never written into a folder that exists. Nothing runs until you call `run()`.

        >>> w = c.winner("ctr")                                         # doctest: +SKIP
        >>> nxt = c.more_like(w, n=3)                    # 3 end-card lines  # doctest: +SKIP
        >>> nxt = c.more_like("h2-8s-9x16", vary="market",
        ...                   values={"DE": "Jetzt kaufen"})              # doctest: +SKIP
        >>> nxt.origin, nxt.estimate(), nxt.run()                       # doctest: +SKIP

        Parameters
        ----------
        winner : a `Winner` from `winner()` of this campaign, or a variant id.
        n : how many variants (default 3 for cta and seed, else one per value given).
        vary : "cta", "seed", "copy" or "market".
        values : what to try on that axis (see above).
        path : the new campaign's folder.
        aspect : another aspect for all of them (default the winner's).
        budget_usd : the new campaign's budget (default this campaign's).
        """
        from nbvideo.campaign import more
        from nbvideo.campaign.winner import Winner as _Winner

        if isinstance(winner, _Winner):
            if Path(winner.campaign).resolve() != self._root:
                raise InvalidInput(f"that winner is from the campaign at {winner.campaign}; "
                                   f"call more_like on that campaign")
            vid = winner.variant
        elif isinstance(winner, str):
            vid = winner
        else:
            raise InvalidInput(f"winner must be a Winner from c.winner() or a variant id, got "
                               f"{type(winner).__name__}")
        try:
            spec = self._state.spec(vid)
        except KeyError as exc:
            raise InvalidInput(str(exc.args[0])) from None
        specs = more.specs_like(spec, vary, n, values,
                                {s.seed for s in self._state.variants}, aspect)
        root = slug_path(path if path is not None
                         else self._root.parent / f"{self._root.name}-{vid}-{vary}")
        from nbvideo.campaign import plan

        plan.check_unique(specs, root)
        try:
            if root == self._root:
                raise FileExistsError(root)
            root.mkdir(parents=True)  # claims the folder: one that exists is never written to
        except FileExistsError:
            raise CampaignExists(f"{root} already exists; more_like() makes a new campaign and "
                                 f"never writes into an existing folder: pass path= a new one "
                                 f"(nothing was changed)") from None
        w = winner if isinstance(winner, _Winner) else None
        from nbvideo.campaign import runner

        state = CampaignState(
            stocked=runner.made_scenes(self._state),  # the store below starts with them
            name=root.name, base=self._state.base, variants=specs,
            budget_usd=self._state.budget_usd if budget_usd is None else _dollars(budget_usd),
            origin=Origin(campaign=str(self._root), variant=vid,
                          metric=w.metric if w else None, value=w.value if w else None,
                          confidence=w.confidence if w else None,
                          decided=w.decided if w else None, vary=vary,
                          values=more.values_of(specs, vary, spec)))
        plan.copy_files(specs, self._root, root)  # its music, brand kit and logo
        _save(root, state)
        SharedAssets(root).seed_from(SharedAssets(self._root))
        return Campaign(root, state)

    # ------------------------------------------------------------------ costs and sharing
    @property
    def costs(self) -> pd.DataFrame:
        """Every ledger row of every variant (column `variant`), plus campaign planning."""
        frames = []
        campaign = Ledger(self._root / "ledger.jsonl").to_pandas()
        if len(campaign):
            frames.append(campaign.assign(variant="(campaign)"))
        for spec in self._state.variants:
            f = self._root / spec.project / "ledger.jsonl"
            rows = Ledger(f).to_pandas() if f.exists() else None
            if rows is not None and len(rows):
                frames.append(rows.assign(variant=spec.id))
        if not frames:
            return Ledger(self._root / "ledger.jsonl").to_pandas().assign(variant="")
        return pd.concat(frames, ignore_index=True)

    def sharing(self) -> pd.DataFrame:
        """Per kind: requests the variants made, how many were generated, how many came from
        the shared store, and the ratio generated / requested (lower is more sharing)."""
        df = self.costs
        rows = []
        for phase in ("frames", "clips"):
            d = df[df["phase"] == phase]
            made = int((d["status"] == "succeeded").sum())
            shared = int((d["cache_hit"] & d["note"].str.startswith("shared:")).sum())
            asked = made + shared
            rows.append({"kind": phase, "requests": asked, "generated": made, "shared": shared,
                         "unique_keys": int(d.loc[d["status"] == "succeeded", "key"].nunique()),
                         "ratio": made / asked if asked else float("nan")})
        return pd.DataFrame(rows)

    def budget(self) -> dict[str, Any]:
        """The shared budget file: limit, spent and in-flight dollars across all workers."""
        return SharedBudget.at(self._root).snapshot()

    def store(self) -> SharedAssets:
        """The content-addressed asset store the variants share (frames and clips by key)."""
        return SharedAssets(self._root)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        counts = self.results["status"].value_counts().to_dict()
        said = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        from nbvideo.campaign.winner import percent

        o = self._state.origin
        came = ""
        if o is not None:
            why = (f", {o.metric} {percent(o.confidence)}" if o.metric and o.confidence is not None
                   else ", picked by hand") + (" (not decided)" if o.decided is False else "")
            came = f", more like {Path(o.campaign).name}/{o.variant}{why}, varying {o.vary}"
        return (f"<nbvideo.Campaign {self.name!r}: {len(self._state.variants)} variants "
                f"({said}){came}>")

    def _repr_html_(self) -> str:
        df = self.results.drop(columns=["project"])
        df["exports"] = df["exports"].map(lambda xs: ", ".join(Path(x).name for x in xs))
        return (f"<div><b>{html.escape(repr(self))}</b>"
                f"{df.to_html(index=False, na_rep='', escape=True)}</div>")


def _dollars(value: Any) -> float | None:
    return budget(value)


def _planning_budget(root: Path, budget_usd: float | None) -> float | None:
    """The campaign budget its planning calls must fit: the one given, else the one the
    campaign already has (making it again in the same folder)."""
    if budget_usd is not None:
        return _dollars(budget_usd)
    try:
        return load_state(root).budget_usd
    except (FileNotFoundError, NbvideoError):
        return None


def variants(project: Project, markets: Sequence[Any] | Mapping[str, Any] | None = None,
             hooks: Sequence[str | Mapping[str, Any]] | None = None,
             durations: Sequence[float] | None = None, aspects: Sequence[str] | None = None,
             *, path: str | os.PathLike[str] | None = None, budget_usd: float | None = None,
             model: str | None = None, policy: str = DEFAULT_POLICY, fit: str = "crop",
             name: str = "ad") -> Campaign:
    """A campaign of every markets × hooks × durations × aspects variant of `project`.

    Parameters
    ----------
    markets : names (["US", "DE"]), or name -> end-card text ({"DE": "Jetzt kaufen"}), or
        name -> {"cta": ..., "copy": {beat: on-screen text}}. Default: the project as is.
    hooks : the opening scene's on-screen text per hook (or a dict of its scene fields).
    durations, aspects : lengths in seconds and "9:16"/"16:9"/"1:1"/"4:5"; default the
        project's own. Each length is planned once; every variant of it shares that plan.
    path : the campaign folder (default ``<project>-campaign`` beside the project); calling
        again with the same folder updates the recipes and keeps the results.
    budget_usd : the campaign's budget across all variants and workers.
    model, policy : the video model for clips (or "auto" with a policy), as generate_clips.
    fit, name : how each export fits its aspect, and its file name.
    """
    from nbvideo.campaign import plan  # planning (and its phases) only when a campaign is made

    root = slug_path(path if path is not None else project.path.parent / f"{project.name}-campaign")
    root.mkdir(parents=True, exist_ok=True)
    specs = plan.from_project(project, Ledger(root / "ledger.jsonl"), markets=markets,
                              hooks=hooks, durations=durations, aspects=aspects, model=model,
                              policy=policy, fit=fit, export_name=name,
                              budget_usd=_planning_budget(root, budget_usd))
    finishing, files = plan.finishing_files(project)
    if finishing is not None:  # every variant is finished as the base project is
        stashed = plan.stash_files(files, root) or None
        specs = [s.model_copy(update={"finishing": finishing, "files": stashed}) for s in specs]
    return Campaign._create(root, root.name, specs, budget_usd, str(project.path))


def batch(table: pd.DataFrame, path: str | os.PathLike[str], *, providers: str = "local",
          models: Mapping[str, str] | None = None, budget_usd: float | None = None,
          model: str | None = None, policy: str = DEFAULT_POLICY, fit: str = "crop",
          name: str = "ad") -> Campaign:
    """A campaign with one variant per row of `table` (a DataFrame of briefs).

    Columns: `brief` (required); optional `variant` (its name), `aspect`, `duration_s`,
    `resolution`, `fps`, `template`, `seed`, `hook`; any other column answers the question
    of that id, e.g. `audience`, `tone`, `cta`, or a template's own (`store`, `deal`).
    """
    if not isinstance(table, pd.DataFrame):
        raise InvalidInput(f"batch() takes a pandas DataFrame of briefs, got "
                           f"{type(table).__name__}")
    from nbvideo.campaign import plan

    root = slug_path(path)
    root.mkdir(parents=True, exist_ok=True)
    specs = plan.from_table(table, Ledger(root / "ledger.jsonl"), providers=providers,
                            models=models, model=model, policy=policy, fit=fit, export_name=name,
                            budget_usd=_planning_budget(root, budget_usd))
    return Campaign._create(root, root.name, specs, budget_usd, None)
