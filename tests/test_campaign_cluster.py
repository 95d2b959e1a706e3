"""Campaigns on a real Dask cluster: a `dask scheduler` and two `dask worker` processes started
from their own command lines on 127.0.0.1, as a team starts them by hand.

Every campaign folder here is made unusable for file locks before it runs (`no_file_locks`):
the shared store's lock folder is a plain file and the budget's lock file is a folder. A
worker that tried to arbitrate a clip or the budget by a file lock would fail loudly, so these
tests prove the scheduler is the arbiter, as it must be for workers that share no
lock-capable file system.

The paid tests run against the Replicate double (an HTTP server in this process the workers
reach over 127.0.0.1) and check its counters against the variants' ledgers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from distributed import Client

import nbvideo as nv
from nbvideo.media.ffmpeg import probe
from tests.conftest import BRIEF, SHORT, SMALL
from tests.doubles.replicate_double import ReplicateDouble, start_replicate_double
from tests.test_clip_routing import TOKEN, fast

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC.parent
DASK = Path(sys.executable).with_name("dask")
WAN = "wan-video/wan-2.5-i2v-fast"  # the double counts creates by the vendor's model ref,
FLUX = "black-forest-labs/flux-schnell"  # the ledger names the catalog model
WAN_ID, FLUX_ID = "wan-2.5-i2v-fast", "flux-schnell"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A scheduler and its workers, each its own `dask` process."""

    address: str
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(self) -> Client:
        return Client(self.address, timeout=30)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_cluster(tmp: Path, double: ReplicateDouble | None, workers: int = 2) -> Cluster:
    """`dask scheduler` and `dask worker` x2 (no nanny: a killed worker stays dead), with the
    environment a user would give them: nbvideo importable, provider keys, and a short lock
    lease so a dead worker's claims are freed in seconds, not the default 30."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}", "TQDM_DISABLE": "1",
           "NBVIDEO_LOCAL_RENDERS": "1", "NBVIDEO_FFMPEG_THREADS": "1",
           "DASK_DISTRIBUTED__SCHEDULER__LOCKS__LEASE_TIMEOUT": "5s",
           "DASK_DISTRIBUTED__SCHEDULER__LOCKS__LEASE_VALIDATION_INTERVAL": "500ms",
           "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    if double is not None:
        env.update(REPLICATE_API_TOKEN=TOKEN, REPLICATE_BASE_URL=double.base_url,
                   NBVIDEO_DOWNLOAD_HOSTS="127.0.0.1")
    address = f"tcp://127.0.0.1:{free_port()}"
    logs = tmp / "dask-logs"
    logs.mkdir(exist_ok=True)
    c = Cluster(address, env)
    try:
        c.procs.append(subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
             "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
            stderr=(logs / "scheduler.log").open("wb")))
        for i in range(workers):
            w = subprocess.Popen(
                [str(DASK), "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--name", f"w{i}"], env=env,
                stdout=subprocess.DEVNULL, stderr=(logs / f"worker{i}.log").open("wb"))
            c.procs.append(w)
            c.workers.append(w)
        deadline = time.monotonic() + 120
        while True:  # the scheduler may not listen yet
            try:
                with c.client() as client:
                    client.wait_for_workers(workers, timeout=120)
                break
            except OSError:
                assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
                assert c.procs[0].poll() is None, (logs / "scheduler.log").read_text()
                time.sleep(0.2)
    except BaseException:
        c.stop()
        raise
    return c


def no_file_locks(camp: Path) -> None:
    """Make every file lock a campaign's workers could take fail: `.shared/locks` is a file
    (no lock file can be made in it) and the budget's lock file is a folder."""
    (camp / ".shared").mkdir(parents=True, exist_ok=True)
    (camp / ".shared" / "locks").write_text("no file locks on this storage")
    (camp / ".budget.json.lock").mkdir(exist_ok=True)


def allow_file_locks(camp: Path) -> None:
    (camp / ".shared" / "locks").unlink()
    (camp / ".budget.json.lock").rmdir()


def run_without_file_locks(c: nv.Campaign, tmp: Path, double: ReplicateDouble) -> pd.DataFrame:
    """Run `c` on a new scheduler and two workers with every file lock in the campaign made
    impossible, so only the cluster can arbitrate; its results by variant."""
    no_file_locks(c.path)
    cluster = start_cluster(tmp, double)
    try:
        res = c.run(cluster=cluster.address, progress=False).set_index("variant")
    finally:
        cluster.stop()
    allow_file_locks(c.path)
    return res


def ledgers(c: nv.Campaign) -> pd.DataFrame:
    costs = c.costs
    return costs[costs["variant"] != "(campaign)"]


def paid(costs: pd.DataFrame) -> pd.DataFrame:
    """Ledger rows that billed money (a create the vendor charged for)."""
    return costs[(costs["kind"] == "actual") & (costs["cost_usd"] > 0)]


def leftovers(project: Path) -> list[Path]:
    """Half-written files: temp files of atomic writes, partial links, half-made clips."""
    pattern = re.compile(r"(\.tmp|\.part)$|\.made\.")
    return [p for p in project.rglob("*") if pattern.search(p.name)]


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplicateDouble]:
    d = start_replicate_double(TOKEN)
    d.latency_s = 0.3
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)  # the notebook's side plans and prices
    monkeypatch.setenv("REPLICATE_BASE_URL", d.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    try:
        yield d
    finally:
        d.stop()


def hook(text: str) -> dict[str, str]:
    """A hook whose opening shot differs too, so its clip is a request of its own (the
    double draws the same frame for any on-screen text, and the text is burnt in later)."""
    return {"on_screen_text": text, "visual_prompt": f"a cold brew can, {text.lower()}"}


def paid_campaign(tmp_path: Path, hooks: list[Any], name: str = "camp") -> nv.Campaign:
    p = fast(nv.Project.open(tmp_path / "cold", brief="15s ad for a cold brew coffee can",
                             duration_s=15, fps=12, providers="replicate"))
    try:
        return nv.variants(p, hooks=hooks, path=tmp_path / name)
    finally:
        p.close()


# ------------------------------------------------------------------ by hand, from the CLI

@pytest.mark.slow
def test_a_campaign_runs_on_a_scheduler_and_two_workers_started_from_their_clis(
        tmp_path: Path) -> None:
    base = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SHORT)
    c = nv.variants(base, hooks=["Wet feet again?", "Built for the storm"],
                    aspects=["16:9", "9:16"], path=tmp_path / "camp")
    base.close()
    no_file_locks(c.path)
    cluster = start_cluster(tmp_path, None)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "nbvideo.cli", "campaign", "run", str(c.path),
             "--cluster", cluster.address, "--no-progress"],
            env=cluster.env, capture_output=True, text=True, timeout=400)
    finally:
        cluster.stop()
    assert run.returncode == 0, run.stderr
    for v in c.variants["variant"]:
        assert re.search(rf"^\s*{v}\s+done\b", run.stdout, re.M), run.stdout
    allow_file_locks(c.path)
    res = nv.Campaign.open(c.path).results.set_index("variant")
    assert (res["status"] == "done").all()
    hosts = {json.loads((Path(p) / "variant-result.json").read_text())["worker"]
             for p in res["project"]}
    assert len(hosts) == 2  # both workers took variants
    for vid, row in res.iterrows():
        (export,) = row["exports"]
        info = probe(export)
        w, h = (1280, 720) if str(vid).endswith("16x9") else (720, 1280)
        assert (info.width, info.height) == (w, h)
        assert info.duration_s == pytest.approx(SHORT["duration_s"], abs=0.3)
        assert info.codec == "h264" and info.frames > 0
    assert res["clips_shared"].sum() > 0  # the middle scenes were made once, for all four


def test_the_cli_names_a_scheduler_that_does_not_answer(tmp_path: Path) -> None:
    base = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SMALL)
    c = nv.variants(base, hooks=["Wet feet again?"], path=tmp_path / "camp")
    base.close()
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    from click.testing import CliRunner

    from nbvideo import cli
    from nbvideo.campaign import runner

    old, runner.CONNECT_TIMEOUT_S = runner.CONNECT_TIMEOUT_S, 2.0
    try:
        out = CliRunner().invoke(cli.main, ["campaign", "run", str(c.path), "--cluster", address,
                                            "--no-progress"])
    finally:
        runner.CONNECT_TIMEOUT_S = old
    assert out.exit_code == 3, out.output
    assert f"no Dask scheduler answered at {address}" in out.output
    assert "dask scheduler" in out.output
    assert list(nv.Campaign.open(c.path).results["status"]) == ["pending"]  # nothing ran


# ------------------------------------------------------------------ money across workers

@pytest.mark.slow
def test_the_campaign_cap_holds_across_two_workers_through_the_scheduler(
        tmp_path: Path, double: ReplicateDouble) -> None:
    double.latency_by_model[WAN] = 1.0  # both workers hold clips in flight at once
    c = paid_campaign(tmp_path, [hook(h) for h in ("Tired?", "Cold brew, fast", "Wake up",
                                                    "Still asleep?")])
    est = c.estimate().set_index("variant")
    # Admission prices clips only, so every variant is admitted under a cap a tenth of a cent
    # above the clips; the frames (paid too, $0.003 each, made first) take the full cost
    # over it, so only the money gate in the workers can hold the cap.
    clips_usd = float(est.loc["total", "new_usd"])
    cap = round(clips_usd + 0.001, 4)
    c.budget_usd = cap
    res = run_without_file_locks(c, tmp_path, double)
    assert not res["error"].fillna("").str.contains("refused before it was sent").any()
    costs = ledgers(c)
    spent = float(paid(costs)["cost_usd"].sum())
    assert spent <= cap + 1e-9  # never past the cap, whichever worker asked
    refused = res[res["status"] == "refused"]
    assert len(refused) >= 1 and (res["status"].isin(["done", "refused"])).all()
    assert refused["error"].str.contains(
        rf"over the campaign budget of \${cap:.2f}|over the campaign budget of \${cap:.4f}"
    ).all(), refused["error"].tolist()
    # what the vendor made is what the ledgers paid for: no create outside the gate
    rows = paid(costs)
    assert double.creates[WAN] == (rows["model"] == WAN_ID).sum()
    assert double.creates[FLUX] == (rows["model"] == FLUX_ID).sum()
    assert rows["key"].is_unique and rows["request_id"].is_unique
    assert double.charged_usd == pytest.approx(spent, abs=1e-6)
    # the scheduler's spend came back to the campaign: the next run starts from it
    snap = c.budget()
    assert snap["spent_usd"] == pytest.approx(spent) and snap["in_flight_usd"] == 0


@pytest.mark.slow
def test_two_workers_needing_one_clip_at_once_make_it_once(
        tmp_path: Path, double: ReplicateDouble) -> None:
    double.latency_by_model[WAN] = 1.5  # the second asker arrives while the first is paying
    c = paid_campaign(tmp_path, [hook("Tired?"), hook("Wake up")])
    specs = c._state.variants
    shared = [a.id for a, b in zip(specs[0].scenes, specs[1].scenes, strict=True) if a == b]
    assert shared  # the two variants differ in the hook only
    est = c.estimate().set_index("variant")
    distinct = int(est.loc["total", "scenes"] - est.loc["total", "shared_scenes"])
    assert distinct == 2 * len(specs[0].scenes) - len(shared)
    res = run_without_file_locks(c, tmp_path, double)
    assert (res["status"] == "done").all()
    workers = {json.loads((Path(p) / "variant-result.json").read_text())["worker"]
               for p in res["project"]}
    assert len(workers) == 2  # each variant on its own worker, at the same time
    costs = ledgers(c)
    rows = paid(costs)
    # one create per distinct clip: the shared scenes once, each hook once
    assert double.creates[WAN] == distinct
    assert double.creates[WAN] == (rows["model"] == WAN_ID).sum()
    for sid in shared:  # one project paid for it; the other took it from the store
        scene_rows = costs[(costs["phase"] == "clips") & (costs["scene"] == sid)]
        assert (scene_rows["cost_usd"] > 0).sum() == 1
        assert scene_rows["note"].str.startswith("shared:").sum() == 1
    assert res["clips_shared"].sum() == len(shared)


# ------------------------------------------------------------------ a worker dies

@pytest.mark.slow
def test_a_worker_killed_mid_variant_pays_nothing_twice_and_leaves_nothing_half_written(
        tmp_path: Path, double: ReplicateDouble) -> None:
    double.latency_by_model[WAN] = 12.0  # the kill lands while clips are being made
    c = paid_campaign(tmp_path, [hook("Tired?"), hook("Wake up")])
    est = c.estimate().set_index("variant")
    distinct = int(est.loc["total", "scenes"] - est.loc["total", "shared_scenes"])
    no_file_locks(c.path)
    cluster = start_cluster(tmp_path, double)
    out: list[pd.DataFrame] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            out.append(c.run(cluster=cluster.address, progress=False))
        except BaseException as exc:  # reported below
            errors.append(exc)

    def recorded() -> dict[str, str]:
        """request id -> variant, for every clip take saved with its remote id."""
        ids = {}
        for vid, proj in zip(c.variants["variant"], c.variants["project"], strict=True):
            try:
                state = json.loads((Path(proj) / "project.json").read_text())
            except (OSError, ValueError):
                continue
            for scene in state["scenes"]:
                for t in scene["clip_takes"]:
                    if t.get("request_id"):
                        ids[t["request_id"]] = vid
        return ids

    run = threading.Thread(target=go)
    try:
        with cluster.client() as client:
            run.start()
            deadline = time.monotonic() + 240
            while True:  # every distinct clip is sent and its id saved by its project
                assert time.monotonic() < deadline, "the clips were never all sent"
                assert run.is_alive(), errors or out
                ids, made = recorded(), double.ids(WAN)
                if len(made) == distinct and set(made) <= set(ids):
                    break
                time.sleep(0.05)
            victim_variant = ids[made[0]]
            busy = {w: keys for w, keys in client.processing().items()
                    if any(f"nbvideo-{victim_variant}-" in k for k in keys)}
            (victim,) = busy
            pid = client.run(os.getpid, workers=[victim])[victim]
            now = time.monotonic()  # no clip has finished: the kill lands mid-run
            assert all(double._preds[i].status(now) != "succeeded" for i in made)
            os.kill(pid, signal.SIGKILL)
            run.join(400)
        assert not run.is_alive() and not errors, errors
    finally:
        cluster.stop()
    allow_file_locks(c.path)
    res = out[0].set_index("variant")
    assert (res["status"] == "done").all(), res["error"].tolist()
    # nothing paid twice: one create per distinct clip, one paid ledger row per create
    costs = ledgers(c)
    rows = paid(costs)
    assert double.creates[WAN] == distinct
    assert (rows["model"] == WAN_ID).sum() == distinct
    assert rows["key"].is_unique and rows["request_id"].is_unique
    assert set(rows.loc[rows["model"] == WAN_ID, "request_id"]) == set(made)
    assert double.creates[FLUX] == (rows["model"] == FLUX_ID).sum()
    assert double.charged_usd == pytest.approx(float(rows["cost_usd"].sum()), abs=1e-6)
    # nothing half-written: every project reopens, no take left running, no temp files
    for vid in res.index:
        p = c.project(str(vid), read_only=True)
        assert not [t for s in p.state.scenes for t in s.clip_takes if t.status == "running"]
        assert leftovers(p.path) == []
        (export,) = res.loc[vid, "exports"]
        assert probe(export).duration_s == pytest.approx(15.0, abs=0.5)
    assert leftovers(c.path / ".shared") == []
    assert not list((c.path / ".shared" / "claims").glob("*.json"))  # every claim let go
