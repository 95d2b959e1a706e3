"""The LocalCluster a campaign starts is sized for the machine, says so, and its workers'
ffmpeg keeps to their share of the cores (issue 22: no slower than inline on one box)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.campaign import runner
from nbvideo.campaign.workers import WORKER_MEMORY_BYTES, WorkerPlan, worker_plan
from nbvideo.errors import InvalidInput
from nbvideo.media import threads
from nbvideo.media.ffmpeg import probe, run_ffmpeg
from nbvideo.render import chunks
from tests.conftest import BRIEF, SMALL

GB = 1_000_000_000


@pytest.fixture
def base(tmp_path: Path) -> Iterator[nv.Project]:
    p = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SMALL)
    yield p
    p.close()


def test_one_single_threaded_worker_per_core_when_there_is_work_for_each() -> None:
    plan = worker_plan(12, cores=2, memory_bytes=20 * GB)
    assert (plan.workers, plan.threads_per_worker, plan.ffmpeg_threads, plan.renders) == (
        2, 1, 1, 1)
    assert plan.env() == {"NBVIDEO_LOCAL_RENDERS": "1", "NBVIDEO_FFMPEG_THREADS": "1",
                          "TQDM_DISABLE": "1"}
    assert plan.describe() == ("LocalCluster of 2 workers × 1 thread, 1 ffmpeg thread each "
                               "(one per core; 2 cores found)")


def test_fewer_variants_than_cores_get_the_spare_cores() -> None:
    """A lone variant on 2 cores is one worker whose ffmpeg uses both, not a worker idling."""
    plan = worker_plan(1, cores=2, memory_bytes=20 * GB)
    assert (plan.workers, plan.ffmpeg_threads, plan.renders) == (1, 2, 2)
    assert "one per variant" in plan.describe()
    three = worker_plan(3, cores=8, memory_bytes=100 * GB)
    assert (three.workers, three.ffmpeg_threads) == (3, 2)


def test_memory_bounds_the_workers_and_a_count_asked_for_shares_the_cores() -> None:
    tight = worker_plan(12, cores=8, memory_bytes=3 * WORKER_MEMORY_BYTES + 1)
    assert (tight.workers, tight.ffmpeg_threads, tight.limited_by) == (3, 2, "memory")
    assert worker_plan(12, cores=8, memory_bytes=GB).workers == 1  # never none
    asked = worker_plan(12, 1, cores=2, memory_bytes=20 * GB)
    assert (asked.workers, asked.ffmpeg_threads, asked.limited_by) == (1, 2, "asked")
    more = worker_plan(12, 4, cores=2, memory_bytes=20 * GB)  # more than cores: 1 thread each
    assert (more.workers, more.ffmpeg_threads) == (4, 1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_a_bad_worker_count_is_refused_by_name(bad: object) -> None:
    with pytest.raises(InvalidInput, match="workers must be a whole number"):
        worker_plan(12, bad)  # type: ignore[arg-type]


def test_workers_with_a_cluster_of_ones_own_is_refused_before_anything_runs(
        base: nv.Project, tmp_path: Path) -> None:
    c = nv.variants(base, hooks=["Wet feet again?"], path=tmp_path / "camp")
    with pytest.raises(InvalidInput, match="workers sizes the LocalCluster"):
        c.run(cluster="inline", workers=2, progress=False)
    with pytest.raises(InvalidInput, match="workers must be a whole number"):
        c.run(workers=0, progress=False)
    assert (c.results["status"] == "pending").all()


def test_cores_are_those_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container limited to 2 CPUs on a big host has 2, whatever os.cpu_count() says."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: 2)
    assert threads.available_cores() == 2
    monkeypatch.setattr(threads, "_cgroup_quota", lambda: None)
    assert threads.available_cores() == 64
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})  # taskset -c 3
    assert threads.available_cores() == 1


def test_cgroup_quota_is_read_from_cpu_max(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    f = tmp_path / "cpu.max"
    monkeypatch.setattr(threads, "CGROUP_CPU_MAX", str(f))
    for text, cores in (("150000 100000\n", 2),  # 1.5 CPUs: two cores to run on
                        ("max 100000\n", None), ("garbage", None), ("0 100000", None)):
        f.write_text(text)
        assert threads._cgroup_quota() == cores, text
    f.unlink()
    assert threads._cgroup_quota() is None  # no cgroup v2 here


def test_every_encoder_takes_the_workers_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBVIDEO_FFMPEG_THREADS", raising=False)
    assert chunks.encoder_bounds((1280, 720)) == ([], [])  # a notebook: ffmpeg's own choice
    assert threads.filter_threads() == []
    monkeypatch.setenv("NBVIDEO_FFMPEG_THREADS", "1")
    assert chunks.encoder_bounds((1280, 720)) == (["-threads", "1"], [])
    assert chunks.encoder_bounds((3840, 2160))[0] == ["-threads", "1"]  # never above the share
    assert threads.filter_threads() == ["-filter_threads", "1", "-filter_complex_threads", "1"]
    for junk in ("", "0", "two", "-3"):
        monkeypatch.setenv("NBVIDEO_FFMPEG_THREADS", junk)
        assert threads.encoder_threads() == []


@pytest.mark.slow
def test_an_encode_on_a_workers_share_plays(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """The thread options are ones this ffmpeg takes, placed where it takes them."""
    monkeypatch.setenv("NBVIDEO_FFMPEG_THREADS", "1")
    out = tmp_path / "a.mp4"
    bounds, _ = chunks.encoder_bounds((320, 240))
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=24:duration=1",
                "-filter_complex", "[0:v]scale=160:120[o]", "-map", "[o]",
                "-c:v", "libx264", *bounds, str(out)], total_s=None)
    info = probe(out)
    assert (info.width, info.height) == (160, 120) and abs(info.duration_s - 1.0) < 0.1


@pytest.mark.slow
def test_run_sizes_its_local_cluster_and_says_what_it_chose(
        base: nv.Project, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nbvideo.campaign import status

    titles: list[str] = []

    class Handle:
        def update(self, view: status.StatusView) -> None:
            titles.append(view.title)

    def opened(view: status.StatusView) -> Handle:
        titles.append(view.title)
        return Handle()

    monkeypatch.setattr(status, "live_frontend", lambda: True)  # a notebook's status table
    monkeypatch.setattr(status, "open_display", opened)
    c = nv.variants(base, hooks=["Wet feet again?", "Built for the storm"],
                    path=tmp_path / "camp")
    res = c.run(workers=1)
    assert (res["status"] == "done").all(), res["error"].tolist()
    assert c.status()["worker"].nunique() == 1  # one worker process ran both
    plan = worker_plan(2, 1).describe()
    err = capsys.readouterr().err.replace("\r", "\n")
    assert err.count(f"campaign camp: {plan}") == 1, err[-2000:]  # said once, above the bar
    bars = [ln for ln in err.splitlines() if "2/2" in ln]
    assert bars and all(plan not in ln for ln in bars)  # the bar keeps a short label
    assert bars[-1].startswith("campaign camp: 1 worker:"), bars[-1]
    assert titles and titles[-1] == f"campaign camp: 2 done (on a {plan})"


@pytest.mark.slow
def test_the_local_clusters_workers_start_with_their_share() -> None:
    """...and without Dask's malloc trimming, which makes every video frame a fresh mmap."""
    plan = WorkerPlan(cores=2, workers=1, ffmpeg_threads=2, renders=2)
    names = [*plan.env(), "MALLOC_TRIM_THRESHOLD_"]
    with runner.dask_client(None, plan=plan) as client:
        envs = list(client.run(lambda: {k: os.environ.get(k) for k in names}).values())
    assert envs == [{**plan.env(), "MALLOC_TRIM_THRESHOLD_": os.environ.get(
        "MALLOC_TRIM_THRESHOLD_")}]


def test_the_cli_takes_a_worker_count_only_for_its_own_cluster(base: nv.Project,
                                                               tmp_path: Path) -> None:
    from click.testing import CliRunner

    from nbvideo import cli

    c = nv.variants(base, hooks=["Wet feet again?"], path=tmp_path / "camp")
    out = CliRunner().invoke(cli.main, ["campaign", "run", str(c.path), "--workers", "0"])
    assert out.exit_code == 2 and "--workers" in out.output
    out = CliRunner().invoke(cli.main, ["campaign", "run", str(c.path), "--cluster", "inline",
                                        "--workers", "2", "--no-progress"])
    assert out.exit_code != 0 and "workers sizes the LocalCluster" in out.output
    assert (nv.Campaign.open(c.path).results["status"] == "pending").all()
