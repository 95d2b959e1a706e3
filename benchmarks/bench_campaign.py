"""A campaign of the offline demo: 24 variants × 2 aspects (48 projects), three ways.

4 markets × 3 hooks × 2 lengths (15 s, 30 s) × 2 aspects (16:9, 9:16), 720p.

1. The plain sequential loop a user would write without nbvideo's campaign: for each variant,
   open a project, answer, storyboard, set the hook and the end-card text, make the clips,
   export. Nothing is shared: every variant renders every scene. By default one market × hook
   per length × aspect runs and stands for the rest (see `plain_loop`).
2. The campaign run inline (`cluster="inline"`): the variants one by one in this process,
   sharing assets through the content-addressed store.
3. The campaign on `run()`'s default, a LocalCluster of one single-threaded worker process per
   core (2 here; its start-up included), sharing the same way.

Goal (issue 8): plain loop / LocalCluster >= 1.7x on 2 cores. Dask vs inline is printed too:
the same work, so it is Dask's parallelism alone.

Where the CPU goes: each variant's result carries the CPU seconds it took in its process
(its threads and its ffmpeg children). A run's CPU minus its variants' is what running it cost
around them (for Dask: worker start-up, scheduler, nanny, heartbeats); a LocalCluster started
and stopped with nothing to run, its workers importing nbvideo, measures the start-up alone.

Sharing ratio: clips generated / (variants × scenes), the requests a campaign without a shared
store would have paid for.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

MARKETS = {"US": "Shop now", "UK": "Shop the range", "DE": "Jetzt kaufen",
           "FR": "Achetez maintenant"}
HOOKS = ["Wet feet again?", "Built for the storm", "Every trail. Any weather."]
DURATIONS = [15, 30]
ASPECTS = ["16:9", "9:16"]
ANSWERS = {"audience": "weekend hikers", "tone": "gritty"}


def campaign(root: Path):  # type: ignore[no-untyped-def]
    import nbvideo as nv
    from nbvideo.cli import DEMO_BRIEF

    p = nv.Project.open(root / "trail-shoe", brief=DEMO_BRIEF, aspect="16:9", duration_s=30,
                        resolution="720p")
    asked = p.questions.ids
    p.answer(**{k: v for k, v in ANSWERS.items() if k in asked})
    c = nv.variants(p, markets=MARKETS, hooks=HOOKS, durations=DURATIONS, aspects=ASPECTS,
                    path=root / "campaign")
    p.close()
    return c


def cpu_s() -> float:
    """CPU seconds of this process and of its finished children (ffmpeg, Dask workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _spin(n: int) -> None:
    sum(i * i for i in range(n))


def cores_available(n: int = 3_000_000) -> float:
    """How many cores this run really gets now: one CPU-bound process vs two at once. On a
    machine shared with other jobs it is well under the core count, and no ratio above it
    can be measured."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    started = time.perf_counter()
    _spin(n)
    one = time.perf_counter() - started
    procs = [ctx.Process(target=_spin, args=(n,)) for _ in range(2)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return 2 * one / (time.perf_counter() - started)


def plain_loop(root: Path, full: bool) -> dict[str, float]:
    """Every variant as its own project, one after the other, with no campaign machinery.

    Nothing is shared in this loop, so every market and hook of one length and aspect does the
    same work (only on-screen text differs). Unless `full`, it runs one market × hook per
    length × aspect (4 of the 48 projects) and scales by the markets × hooks it stands for:
    the whole loop takes most of an hour on a busy 2-core machine.
    NBVIDEO_BENCH_PLAIN=full runs all 48."""
    import nbvideo as nv
    from nbvideo.cli import DEMO_BRIEF

    markets = MARKETS if full else dict(list(MARKETS.items())[:1])
    hooks = HOOKS if full else HOOKS[:1]
    scale = len(MARKETS) * len(HOOKS) / (len(markets) * len(hooks))
    done = clips = scenes = 0
    started, cpu0 = time.perf_counter(), cpu_s()
    for market, cta in markets.items():
        for h, hook in enumerate(hooks):
            for duration in DURATIONS:
                for aspect in ASPECTS:
                    path = root / f"{market}-h{h}-{duration}s-{aspect.replace(':', 'x')}"
                    with nv.Project.open(path, brief=DEMO_BRIEF, aspect=aspect,
                                         duration_s=duration, resolution="720p") as p:
                        asked = p.questions.ids
                        p.answer(**{k: v for k, v in ANSWERS.items() if k in asked})
                        p.storyboard()
                        p.scene(1).edit(on_screen_text=hook)
                        p.scene(len(p.scenes)).edit(on_screen_text=cta)
                        p.storyboard()  # redraws the two edited frames
                        p.generate_clips().wait()
                        out = p.export("ad", formats=[aspect], fit="crop", resolution="720p")
                        done += int(all(e.exists() for e in out.paths))
                        costs = p.costs
                        clips += int(((costs["phase"] == "clips")
                                      & (costs["status"] == "succeeded")).sum())
                        scenes += len(p.scenes)
    ran = len(markets) * len(hooks) * len(DURATIONS) * len(ASPECTS)
    return {"seconds": (time.perf_counter() - started) * scale, "cpu": (cpu_s() - cpu0) * scale,
            "done": float(done), "ran": float(ran), "clips": clips * scale,
            "scenes": scenes * scale, "scale": scale}


def cluster_overhead() -> float:
    """CPU seconds of starting the campaign's LocalCluster, importing nbvideo on every worker
    (what a variant's first task does) and stopping it, with nothing to run."""
    from nbvideo.campaign.runner import dask_client

    cpu0 = cpu_s()
    with dask_client(None) as client:
        client.run(lambda: __import__("nbvideo.project"))
    return cpu_s() - cpu0


def timed_run(c, cluster):  # type: ignore[no-untyped-def]
    started, cpu0 = time.perf_counter(), cpu_s()
    res = c.run(cluster=cluster, progress=False)
    return res, time.perf_counter() - started, cpu_s() - cpu0


def main() -> dict[str, float]:
    os.environ.setdefault("TQDM_DISABLE", "1")  # 48 projects' progress bars say nothing here
    with (tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b,
          tempfile.TemporaryDirectory() as d):
        seq = campaign(Path(a))
        n = len(seq.variants)
        scenes = int(seq.variants["scenes"].sum())
        res_seq, t_seq, c_seq = timed_run(seq, "inline")
        clips_seq = int(seq.sharing().set_index("kind").loc["clips", "generated"])

        par = campaign(Path(b))
        res_par, t_par, c_par = timed_run(par, None)  # a LocalCluster, one worker per core
        sharing = par.sharing().set_index("kind")
        clips = int(sharing.loc["clips", "generated"])
        frames = int(sharing.loc["frames", "generated"])

        plain = plain_loop(Path(d), full=os.environ.get("NBVIDEO_BENCH_PLAIN") == "full")
    start_up = cluster_overhead()
    ok = int((res_seq["status"] == "done").sum()), int((res_par["status"] == "done").sum())
    v_seq, v_par = float(res_seq["cpu_s"].sum()), float(res_par["cpu_s"].sum())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cores = cores_available()
    workers = os.cpu_count()

    def line(label: str, t: float, c: float) -> str:
        return f"  {label:34s} {t:7.1f} s  {c:6.0f} CPU s  {c / t:4.2f} cores busy"

    print(f"campaign: {n} variants ({len(MARKETS)} markets × {len(HOOKS)} hooks × "
          f"{len(DURATIONS)} lengths × {len(ASPECTS)} aspects), {scenes} scenes in all; "
          f"done {int(plain['done'])}/{int(plain['ran'])} plain, {ok[0]}/{n} inline, "
          f"{ok[1]}/{n} on Dask")
    if plain["scale"] != 1:
        print(f"  (plain loop: ran {int(plain['ran'])} of {n} projects, one per length × aspect, "
              f"figures × {plain['scale']:g}; NBVIDEO_BENCH_PLAIN=full runs all)")
    print(line("plain loop (no campaign, no sharing)", plain["seconds"], plain["cpu"]))
    print(line("campaign inline (shared store)", t_seq, c_seq))
    print(line(f"campaign on LocalCluster({workers})", t_par, c_par) + "  (start-up included)")
    print(f"  speed-up vs plain loop   {plain['seconds'] / t_par:5.2f}x  (the goal: >= 1.7x on "
          f"2 cores)")
    print(f"  speed-up vs inline       {t_seq / t_par:5.2f}x  (same work and sharing: Dask's "
          f"parallelism alone)")
    print(f"  CPU inside variants      inline {v_seq:6.0f} s, Dask {v_par:6.0f} s "
          f"({v_par / v_seq - 1:+.0%} per the same variants)")
    print(f"  CPU around variants      inline {c_seq - v_seq:6.0f} s, Dask {c_par - v_par:6.0f} s "
          f"(a LocalCluster started and stopped with nothing to run: {start_up:.0f} s)")
    print(f"  cores available          {cores:5.2f}  (two CPU-bound processes vs one, measured "
          f"after the runs; the ceiling for any speed-up here; load average {load:.1f})")
    print(f"  clips generated          plain {int(plain['clips'])} of {int(plain['scenes'])}, "
          f"inline {clips_seq}, Dask {clips} of {scenes} requests (sharing ratio "
          f"{clips / scenes:.3f}); frames {frames} of {scenes}")
    return {"campaign_plain_s": plain["seconds"], "campaign_seq_s": t_seq,
            "campaign_dask_s": t_par, "campaign_plain_cpu_s": plain["cpu"],
            "campaign_seq_cpu_s": c_seq, "campaign_dask_cpu_s": c_par,
            "campaign_seq_variant_cpu_s": v_seq, "campaign_dask_variant_cpu_s": v_par,
            "campaign_cluster_startup_cpu_s": start_up,
            "campaign_speedup": plain["seconds"] / t_par,
            "campaign_speedup_vs_inline": t_seq / t_par,
            "campaign_cores_available": cores, "campaign_clip_ratio": clips / scenes,
            "campaign_clips": float(clips), "campaign_requests": float(scenes)}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
