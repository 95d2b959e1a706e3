"""Replicate webhooks instead of polling, where the notebook server is public (JupyterHub).

The server-side tests start a real Jupyter server (as a hub's single-user server: a
/user/ann/ base_url and the JUPYTERHUB_* variables its spawner sets) with the extension
enabled by the registration file the wheel ships; the Replicate double calls it back with
signed, forged, stale, unsigned and replayed webhooks. This test process plays the kernel.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import nbvideo as nv
from nbvideo.providers import provider_set
from nbvideo.providers.base import ClipRequest, Ticket
from nbvideo.providers.replicate import ReplicateVideo
from nbvideo.webhooks import (
    ROUTE,
    Spool,
    WebhookRefused,
    server_public_url,
    sign,
    signing_key,
    verify,
)
from tests.browser.server import _free_port, isolated_env
from tests.doubles.replicate_double import ReplicateDouble, start_replicate_double

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "r8_" + "w" * 30
WAN = "wan-video/wan-2.5-i2v-fast"
PREFIX = "/user/ann/"
START_TIMEOUT_S = 180  # a bound on a hang, not a speed check
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


# --- verification and the spool, without a server ----------------------------------------
def _signed(body: bytes, key: bytes, stamp: int, webhook_id: str = "msg_1") -> dict[str, str]:
    return {"webhook-id": webhook_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(key, webhook_id, str(stamp), body)}


def test_verify_accepts_replicates_signature_and_refuses_the_rest() -> None:
    key, body, now = signing_key(SECRET), b'{"id": "p1", "status": "succeeded"}', 1_800_000_000
    assert verify(_signed(body, key, now), body, key, now=now) == "msg_1"
    # several signatures, one of them ours (a rotated key), and a scheme we do not know
    h = _signed(body, key, now)
    h["webhook-signature"] = f"v1,{base64.b64encode(b'x' * 32).decode()} v1a,zzz " + \
        h["webhook-signature"]
    assert verify(h, body, key, now=now) == "msg_1"
    refusals = {
        "tampered body": (_signed(body, key, now), body.replace(b"succeeded", b"failed")),
        "other key": (_signed(body, signing_key("whsec_" + base64.b64encode(b"o" * 32).decode()),
                              now), body),
        "stale": (_signed(body, key, now - 301), body),
        "from the future": (_signed(body, key, now + 301), body),
        "missing signature": ({"webhook-id": "msg_1", "webhook-timestamp": str(now)}, body),
        "missing id": ({"webhook-timestamp": str(now), "webhook-signature": "v1,AAAA"}, body),
        "garbled timestamp": ({**_signed(body, key, now), "webhook-timestamp": "soon"}, body),
        "garbled signature": ({**_signed(body, key, now), "webhook-signature": "v1,@@@"}, body),
    }
    got = {}
    for name, (headers, sent) in refusals.items():
        with pytest.raises(WebhookRefused) as err:
            verify(headers, sent, key, now=now)
        got[name] = err.value.status
    assert got == {"tampered body": 401, "other key": 401, "stale": 401, "from the future": 401,
                   "missing signature": 400, "missing id": 400, "garbled timestamp": 400,
                   "garbled signature": 401}


def test_a_malformed_secret_is_refused_without_quoting_it() -> None:
    for bad, part in (("sk_live_abc", "live_abc"),
                      ("whsec_***not+base64***", "not+base64")):
        with pytest.raises(ValueError) as err:
            signing_key(bad)
        assert part not in str(err.value)


def test_spool_claims_each_webhook_id_once_and_keeps_events_until_taken(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    assert spool.claim("msg_1") and not spool.claim("msg_1") and spool.claim("msg_2")
    assert Spool(tmp_path / "spool").claim("msg_1") is False  # another process, same answer
    assert spool.put({"id": "p1", "status": "processing"}) is False  # nothing to wake
    assert spool.take("p1") is None
    assert spool.put({"id": "p1", "status": "succeeded", "output": "u"}) is True
    assert spool.take("p1") == {"id": "p1", "status": "succeeded", "output": "u"}
    assert spool.take("p1") is None  # taken once
    with pytest.raises(WebhookRefused):
        spool.put({"id": "../../etc/passwd", "status": "succeeded"})
    assert spool.take("../x") is None
    spool.put({"id": "old", "status": "failed"})
    assert spool.prune(keep_s=3600, now=time.time() + 7200) == 3  # 2 ids and the event
    assert spool.claim("msg_1")


def test_kernels_ask_for_webhooks_only_while_the_announcing_server_lives(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    assert spool.live_url() is None  # nobody announced
    spool.announce("https://hub.example.org/user/ann/nbvideo/webhooks/replicate/t")
    assert spool.live_url() == "https://hub.example.org/user/ann/nbvideo/webhooks/replicate/t"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(gone.stdout)
    spool.withdraw(pid=dead)  # not its announcement: ours stays
    assert spool.live_url() is not None
    spool.announce("https://hub.example.org/x", pid=dead)  # a server that has since died
    assert spool.live_url() is None
    spool.announce("file:///etc/passwd")
    assert spool.live_url() is None
    spool.announce("https://hub.example.org/x")
    spool.withdraw()
    assert spool.live_url() is None and not (spool.root / "ready.json").exists()


def test_public_url_comes_from_the_setting_or_jupyterhubs_variables() -> None:
    assert server_public_url({}) is None  # a laptop: no way in, so no webhooks
    assert server_public_url({"JUPYTERHUB_SERVICE_PREFIX": "/user/ann/"}) is None
    assert server_public_url({"JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/ann/"}) \
        == "https://hub.example.org/user/ann/"
    assert server_public_url({"JUPYTERHUB_HOST": "https://ann.hub.example.org",
                              "JUPYTERHUB_SERVICE_PREFIX": "/user/ann/"}) \
        == "https://ann.hub.example.org/user/ann/"
    assert server_public_url({"NBVIDEO_PUBLIC_URL": "https://lab.example.org/x",
                              "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/ann/"}) \
        == "https://lab.example.org/x/"
    assert server_public_url({"JUPYTERHUB_PUBLIC_URL": ""}) is None


def test_without_a_public_url_the_extension_adds_nothing(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    from nbvideo import serverext

    for name in ("NBVIDEO_PUBLIC_URL", "JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NBVIDEO_WEBHOOK_SPOOL", str(tmp_path / "spool"))
    added: list[Any] = []
    app = SimpleNamespace(log=serverext.logging.getLogger("t"),
                          web_app=SimpleNamespace(settings={"base_url": "/"},
                                                  add_handlers=lambda *a: added.append(a)))
    serverext._load_jupyter_server_extension(app)
    assert added == [] and not (tmp_path / "spool").exists()


# --- a laptop: polling, no webhook asked for ------------------------------------------------
@pytest.fixture
def frame(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "frame.png"
    Image.new("RGB", (1280, 720), (40, 90, 60)).save(path)
    return path


def _req(frame: Path, seed: int) -> ClipRequest:
    return ClipRequest(frame_path=frame, prompt="a can", camera="push-in", duration_s=5,
                       fps=24, width=1280, height=720, seed=seed)


def test_on_a_laptop_no_webhook_is_asked_for(replicate_env: ReplicateDouble, frame: Path,
                                             tmp_path: Path) -> None:
    spool = tmp_path / "spool"  # no server announced itself here
    v = ReplicateVideo(api_token=replicate_env.token, base_url=replicate_env.base_url,
                       typical_latency_s=0.4,
                       sync_wait_s=0, webhook_spool=spool,
                       allowed_download_hosts=frozenset({"127.0.0.1"}))
    assert v.webhook_url() is None
    import asyncio

    out = asyncio.run(v.clip(_req(frame, 1), tmp_path / "c.mp4"))
    assert out.path.stat().st_size > 0
    assert replicate_env.hooks(WAN) == [(None, None)]
    assert replicate_env.webhook_deliveries == []
    assert sum(replicate_env.status_requests.values()) >= 1  # it polled


# --- a hub's single-user server with the extension --------------------------------------------
@dataclass
class Hub:
    url: str  # the server's public URL, ending in its base_url
    token: str
    spool: Spool
    double: ReplicateDouble
    runtime: Path
    log: Path

    def webhook_url(self) -> str:
        return self.spool.live_url() or ""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    base = tmp_path_factory.mktemp("hub")
    double = start_replicate_double(TOKEN)
    env = isolated_env(base)
    # the registration file the wheel installs into {prefix}/etc/jupyter
    confd = Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.d"
    confd.mkdir(parents=True)
    shutil.copy(ROOT / "jupyter-config" / "jupyter_server_config.d" / "nbvideo.json", confd)
    port, token = _free_port(), secrets.token_hex(16)
    public = f"http://127.0.0.1:{port}{PREFIX}"
    env.update({"JUPYTERHUB_PUBLIC_URL": public, "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
                "REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": double.base_url,
                "PYTHONPATH": str(ROOT / "src")})
    for name in ("NBVIDEO_WEBHOOK_SPOOL", "NBVIDEO_PUBLIC_URL", "NBVIDEO_REPLICATE_WEBHOOK_SECRET",
                 "JUPYTERHUB_HOST"):
        env.pop(name, None)  # the test's own setting only
    root = base / "root"
    root.mkdir()
    log = base / "server.log"
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
           "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.base_url={PREFIX}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    runtime = Path(env["JUPYTER_RUNTIME_DIR"])
    spool = Spool(runtime / "nbvideo-webhooks")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while spool.live_url() is None:  # announced once it holds the signing secret
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Hub(url=public, token=token, spool=spool, double=double, runtime=runtime,
                  log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        double.stop()


@pytest.fixture
def kernel(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """This process as the user's kernel: same runtime dir (so the same spool), the double."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(hub.runtime))
    for name in ("NBVIDEO_WEBHOOK_SPOOL", "NBVIDEO_WEBHOOKS", "NBVIDEO_WEBHOOK_FALLBACK_S"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", hub.double.base_url)
    monkeypatch.setenv("NBVIDEO_DOWNLOAD_HOSTS", "127.0.0.1")
    d = hub.double
    d.latency_s, d.webhooks_on_create, d.webhooks_on_completion = 0.4, [], ["signed"]
    return hub


def boarded(tmp_path: Path, name: str, **replicate: Any) -> nv.Project:
    """A 15 s storyboard on Replicate; the poller is told the double's real latency, and
    video creates are not held open (so only a status request or a webhook can tell)."""
    p = nv.Project.open(tmp_path / name, brief="15s ad for a cold brew coffee can",
                        duration_s=15, fps=12, providers="replicate")
    p._rt.providers = provider_set(p.state.providers, p.state.models, {"replicate": {
        "typical_latency_s": 0.4, "backoff_s": 0.05, "sync_wait_s": 0, **replicate}})
    p.storyboard()
    return p


def _clip_gets(d: ReplicateDouble, ids: list[str]) -> int:
    return sum(d.status_requests[i] for i in ids)


def test_the_extension_is_mounted_under_the_servers_base_url(kernel: Hub) -> None:
    url = kernel.webhook_url()
    assert url.startswith(f"{kernel.url}{ROUTE}/")
    r = httpx.post(url.rsplit("/", 1)[0] + "/not-our-token", content=b"{}")
    assert r.status_code == 404
    r = httpx.get(url)  # only POST
    assert r.status_code == 405


def test_signed_webhooks_finish_clips_with_no_status_requests_polling_needs_them(
        kernel: Hub, tmp_path: Path) -> None:
    d = kernel.double
    p = boarded(tmp_path, "hooked")
    n = len(p.scenes)
    takes = p.generate_clips().wait(300)
    hooked = d.ids(WAN)
    assert len(takes) == n == len(hooked)
    assert all(s.clip.status == "succeeded" for s in p.scenes)
    # each create asked for our webhook, only for the end
    assert set(d.hooks(WAN)) == {(kernel.webhook_url(), ("completed",))}
    assert [x["status"] for x in d.webhook_deliveries if x["prediction"] in hooked] == [200] * n
    assert _clip_gets(d, hooked) == 0  # woken by the webhook, never asked
    assert list(kernel.spool.events.iterdir()) == []  # every event taken by its waiter
    paid = p.costs.query("phase == 'clips' and status == 'succeeded'")
    assert len(paid) == n  # billed as Replicate bills them, from the webhook's prediction
    assert paid["cost_usd"].sum() == pytest.approx(sum(d._price(d._preds[i]) for i in hooked))
    p.close()

    # the same job by polling alone (webhooks=False: as on a laptop)
    q = boarded(tmp_path, "polled", webhooks=False)
    q.generate_clips().wait(300)
    polled = [i for i in d.ids(WAN) if i not in hooked]
    assert len(polled) == n and set(d.hooks(WAN)[n:]) == {(None, None)}
    assert _clip_gets(d, polled) >= n  # at least one status request per clip
    assert _clip_gets(d, hooked) == 0 < _clip_gets(d, polled)
    q.close()


def test_forged_stale_unsigned_and_replayed_webhooks_wake_nothing(kernel: Hub,
                                                                    tmp_path: Path) -> None:
    d = kernel.double
    before = set(d.ids(WAN))
    # while each prediction runs, three fakes claim it succeeded with another output
    d.webhooks_on_create = ["forged", "stale", "unsigned"]
    d.webhooks_on_completion = ["signed", "replay"]
    p = boarded(tmp_path, "attacked")
    p.generate_clips().wait(300)
    ids = [i for i in d.ids(WAN) if i not in before]
    got: dict[str, list[int | None]] = {}
    for x in d.webhook_deliveries:
        if x["prediction"] in ids:
            got.setdefault(x["kind"], []).append(x["status"])
    n = len(ids)
    assert got == {"forged": [401] * n, "stale": [401] * n, "unsigned": [400] * n,
                   "signed": [200] * n, "replay": [409] * n}
    assert all(s.clip.status == "succeeded" for s in p.scenes)
    assert not [r for r in d.requests if "/files/forged-" in r["path"]]  # never followed
    for s in p.scenes:
        assert "forged" not in (s.clip.source_url or "")
    assert _clip_gets(d, ids) == 0  # the signed one woke each clip, nothing else did
    assert list(kernel.spool.events.iterdir()) == []  # the replays spooled nothing
    p.close()


def test_a_lost_webhook_still_finishes_by_the_fallback_poll(kernel: Hub,
                                                            tmp_path: Path) -> None:
    d = kernel.double
    before = set(d.ids(WAN))
    d.webhooks_on_completion = []  # Replicate's call never arrives
    p = boarded(tmp_path, "lost", webhook_fallback_s=0.5)
    p.generate_clips().wait(300)
    ids = [i for i in d.ids(WAN) if i not in before]
    assert set(d.hooks(WAN)[len(before):]) == {(kernel.webhook_url(), ("completed",))}
    assert all(s.clip.status == "succeeded" for s in p.scenes)
    assert _clip_gets(d, ids) >= len(ids)
    p.close()


def test_webhooks_that_never_come_make_the_provider_poll_again(kernel: Hub, frame: Path,
                                                               tmp_path: Path) -> None:
    """A hub whose public URL Replicate cannot reach would slow every clip to the fallback
    poll: after three misses in a row the provider stops asking for webhooks."""
    import asyncio

    d = kernel.double
    d.webhooks_on_completion = []
    v = ReplicateVideo(api_token=TOKEN, base_url=d.base_url, typical_latency_s=0.4,
                       sync_wait_s=0, webhook_fallback_s=0.3,
                       allowed_download_hosts=frozenset({"127.0.0.1"}))

    async def four() -> None:
        for seed in range(4):
            await v.clip(_req(frame, 10 + seed), tmp_path / f"c{seed}.mp4")
        await v.aclose()

    before = len(d.ids(WAN))
    asyncio.run(four())
    asked = [hook for hook, _filter in d.hooks(WAN)[before:]]
    assert asked == [kernel.webhook_url()] * 3 + [None]
    assert v.webhook_url() is None


def test_a_webhook_that_lands_before_the_waiter_starts_is_not_lost(kernel: Hub, frame: Path,
                                                                   tmp_path: Path) -> None:
    d = kernel.double
    opts = {"api_token": TOKEN, "base_url": d.base_url, "typical_latency_s": 0.4,
            "sync_wait_s": 0, "allowed_download_hosts": frozenset({"127.0.0.1"})}
    import asyncio

    first = ReplicateVideo(**opts)
    req = _req(frame, 3)
    t = asyncio.run(first.submit(req))  # then the kernel dies: only the id was saved
    deadline = time.monotonic() + 120
    while not [x for x in d.webhook_deliveries if x["prediction"] == t.id]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [x["status"] for x in d.webhook_deliveries if x["prediction"] == t.id] == [200]
    # a new kernel resumes the saved id, after the webhook came and went
    again = ReplicateVideo(**opts)
    done = asyncio.run(again.wait(Ticket(id=t.id, model="wan-2.5-i2v-fast")))
    assert done.status == "succeeded" and done.output_url
    assert d.status_requests[t.id] == 0
    out = asyncio.run(again.fetch(done, tmp_path / "c.mp4"))
    assert out.duration_s == pytest.approx(5, abs=0.2)
    assert d.status_requests[t.id] == 0


def test_the_signing_secret_never_reaches_disk_or_the_log(kernel: Hub) -> None:
    secret = kernel.double.webhook_secret
    key_part = secret.split("_", 1)[1]
    for path in [kernel.log, *kernel.spool.root.rglob("*")]:
        if path.is_file():
            text = path.read_bytes()
            assert secret.encode() not in text and key_part.encode() not in text, path


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_wheel_enables_the_extension_in_jupyter(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("src", "templates", "jupyter-config"):
        shutil.copytree(ROOT / name, tree / name, ignore=skip)
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "wheel",
                    "--no-deps", "--no-index", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(tree)], check=True, capture_output=True,
                   timeout=240)
    wheel = next((tmp_path / "dist").glob("nbvideo-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist()
                    if n.endswith("/data/etc/jupyter/jupyter_server_config.d/nbvideo.json"))
        conf = json.loads(z.read(name))
        assert "nbvideo/serverext.py" in z.namelist()
    assert conf == {"ServerApp": {"jpserver_extensions": {"nbvideo.serverext": True}}}
    assert os.path.basename(name) == "nbvideo.json"


def test_the_kernels_webhook_settings_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nbvideo.errors import InvalidInput
    from nbvideo.providers import replicate_options

    monkeypatch.delenv("NBVIDEO_WEBHOOKS", raising=False)
    monkeypatch.delenv("NBVIDEO_WEBHOOK_FALLBACK_S", raising=False)
    assert "webhooks" not in replicate_options()
    monkeypatch.setenv("NBVIDEO_WEBHOOKS", "0")
    monkeypatch.setenv("NBVIDEO_WEBHOOK_FALLBACK_S", "90")
    opts = replicate_options()
    assert opts["webhooks"] is False and opts["webhook_fallback_s"] == 90
    v = ReplicateVideo(api_token=TOKEN, **opts)  # type: ignore[arg-type]
    assert v.webhook_url() is None and v.webhook_fallback_s == 90
    for bad in ("soon", "0", "-5", "inf"):
        monkeypatch.setenv("NBVIDEO_WEBHOOK_FALLBACK_S", bad)
        with pytest.raises(InvalidInput, match="NBVIDEO_WEBHOOK_FALLBACK_S"):
            replicate_options()


def test_the_extension_loads_without_the_provider_stack() -> None:
    """Every Jupyter server start imports it: no pandas, no SDKs, no project stack."""
    code = ("import sys, nbvideo.serverext; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pandas', 'replicate', 'pydantic', 'av') or m.startswith('nbvideo.providers')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
