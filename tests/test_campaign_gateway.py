"""Campaigns on a hub's dask-gateway: `c.run(cluster="gateway")` against a real
`dask-gateway-server` started in its own process on 127.0.0.1, as a JupyterHub deployment runs
it, with the local-process backend (`UnsafeLocalBackend`: scheduler and workers are processes
of this machine, run as this user) and password auth (`SimpleAuthenticator`; a hub uses its
JupyterHub authenticator and the user's token in the same place).

The gateway starts its processes with the environment a hub image would give them (nbvideo
importable, `dask` on PATH); nbvideo finds the gateway the way dask-gateway does (dask config
`gateway.address` / `gateway.auth`), starts a cluster sized to the variants, gives its workers
the one-core environment the LocalCluster gets, and shuts it down after the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dask
import httpx
import pytest

import nbvideo as nv
from nbvideo.campaign import runner
from nbvideo.errors import ClusterUnavailable
from nbvideo.media.ffmpeg import probe
from tests.conftest import BRIEF, SHORT
from tests.doubles.hub_api_double import start_hub_api_double
from tests.test_campaign_cluster import DASK, ROOT, SRC, free_port, no_file_locks

pytest.importorskip("dask_gateway")
pytest.importorskip("dask_gateway_server")

PASSWORD = "gateway-test-password"  # SimpleAuthenticator: any user name, this password
SERVER = Path(sys.executable).with_name("dask-gateway-server")


@dataclass
class GatewayServer:
    address: str  # the public (proxy) address the client talks to
    proc: subprocess.Popen[bytes]
    log: Path

    def config(self) -> dict[str, object]:
        """What a hub puts in the user's environment (DASK_GATEWAY__ADDRESS, ...)."""
        return {"gateway.address": self.address, "gateway.auth.type": "basic",
                "gateway.auth.kwargs": {"username": "alice", "password": PASSWORD}}

    def gateway(self):  # type: ignore[no-untyped-def]
        from dask_gateway import BasicAuth, Gateway

        return Gateway(self.address, auth=BasicAuth("alice", PASSWORD))


SIMPLE_AUTH = f"""
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = {PASSWORD!r}
"""


def write_config(tmp: Path, api: int, proxy: int, auth: str) -> Path:
    cfg = tmp / "dask_gateway_config.py"
    cfg.write_text(auth + f"""
c.DaskGateway.address = "127.0.0.1:{api}"
c.Proxy.address = "127.0.0.1:{proxy}"
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.LocalBackend.clusters_directory = {str(tmp / "clusters")!r}
# `dask-scheduler`/`dask-worker` scripts are gone from distributed; its `dask` CLI remains
c.ClusterConfig.scheduler_cmd = [{str(DASK)!r}, "scheduler"]
c.ClusterConfig.worker_cmd = [{str(DASK)!r}, "worker"]
c.ClusterConfig.worker_cores = 1
c.ClusterConfig.worker_threads = 1
c.ClusterConfig.worker_memory = "1 G"
c.ClusterConfig.idle_timeout = 300
""")
    return cfg


def healthy(address: str) -> bool:
    try:
        return httpx.get(f"{address}/api/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GatewayServer]:
    yield from serve(tmp_path, SIMPLE_AUTH)


def serve(tmp_path: Path, auth: str) -> Iterator[GatewayServer]:
    api, proxy = free_port(), free_port()
    cfg = write_config(tmp_path, api, proxy, auth)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}",
           "PATH": f"{DASK.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = tmp_path / "gateway.log"
    proc = subprocess.Popen([str(SERVER), "-f", str(cfg)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    s = GatewayServer(f"http://127.0.0.1:{proxy}", proc, log)
    try:
        deadline = time.monotonic() + 60
        while not healthy(s.address):  # the server, and its proxy routing to it
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield s
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_campaign_runs_on_a_cluster_the_gateway_starts_and_is_shut_down_after(
        server: GatewayServer, tmp_path: Path) -> None:
    base = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SHORT)
    c = nv.variants(base, hooks=["Wet feet again?", "Built for the storm"],
                    path=tmp_path / "camp")
    base.close()
    no_file_locks(c.path)  # the gateway's scheduler keeps the budget and claims, no file lock
    with dask.config.set(server.config()):
        res = c.run(cluster="gateway", progress=False).set_index("variant")
    assert (res["status"] == "done").all(), res["error"].to_dict()
    assert len(res) == 2
    for exports in res["exports"]:
        assert len(exports) == 1
        info = probe(Path(exports[0]))
        assert (info.width, info.height) == (1280, 720)
        assert abs(info.duration_s - SHORT["duration_s"]) < 0.5
    g = server.gateway()
    try:
        assert g.list_clusters() == []  # nothing left running, nothing left billing
        ran = g.list_clusters(status=["stopping", "stopped"])
        assert len(ran) == 1  # the run started exactly one cluster, and stopped it
    finally:
        g.close()
        del g._loop_runner  # see runner.gateway_cluster: close is not idempotent


@pytest.mark.slow
def test_the_cli_finds_the_gateway_from_the_environment_a_hub_sets(
        server: GatewayServer, tmp_path: Path) -> None:
    """`nbvideo campaign run --cluster gateway` in a fresh process: the gateway's address and
    credentials come only from DASK_GATEWAY__* variables, as a hub's server has them."""
    base = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SHORT)
    c = nv.variants(base, hooks=["Wet feet again?", "Built for the storm"],
                    path=tmp_path / "camp")
    base.close()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{ROOT}",
           "DASK_GATEWAY__ADDRESS": server.address, "DASK_GATEWAY__AUTH__TYPE": "basic",
           "DASK_GATEWAY__AUTH__KWARGS__USERNAME": "bob",
           "DASK_GATEWAY__AUTH__KWARGS__PASSWORD": PASSWORD}
    run = subprocess.run([sys.executable, "-m", "nbvideo.cli", "campaign", "run", str(c.path),
                          "--cluster", "gateway", "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr
    for v in c.variants["variant"]:
        assert re.search(rf"^\s*{v}\s+done\b", run.stdout, re.M), run.stdout
    assert PASSWORD not in run.stdout + run.stderr
    from dask_gateway import BasicAuth, Gateway

    # the clusters are bob's: the gateway lists a user's own
    bob = Gateway(server.address, auth=BasicAuth("bob", PASSWORD))
    try:
        assert bob.list_clusters() == []
        assert len(bob.list_clusters(status=["stopping", "stopped"])) == 1
    finally:
        bob.close()
        del bob._loop_runner


def test_wrong_gateway_password_is_a_clear_error_and_no_variant_runs(
        server: GatewayServer, tmp_path: Path) -> None:
    base = nv.Project.open(tmp_path / "shoe", brief=BRIEF, **SHORT)
    c = nv.variants(base, hooks=["Wet feet again?"], path=tmp_path / "camp")
    base.close()
    cfg = {**server.config(), "gateway.auth.kwargs": {"username": "alice", "password": "nope"}}
    with dask.config.set(cfg), pytest.raises(ClusterUnavailable) as err:
        c.run(cluster="gateway", progress=False)
    text = str(err.value)
    assert f"the dask-gateway at {server.address} did not start a cluster" in text
    assert "nope" not in text  # the credential is not repeated back
    assert set(c.results["status"].fillna("")) <= {"", "pending"}


def test_on_a_hub_the_users_hub_token_opens_the_gateway(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway as a hub deploys it: `JupyterHubAuthenticator` checks each request's token
    with the hub's API (a double here). The user's server has only the gateway's address and
    its hub token (JUPYTERHUB_API_TOKEN); nbvideo sends that token, the hub names the user."""
    hub = start_hub_api_double()
    hub.users["alice-hub-token"] = "alice"
    auth = f"""
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.JupyterHubAuthenticator"
c.JupyterHubAuthenticator.jupyterhub_api_url = {hub.api_url!r}
c.JupyterHubAuthenticator.jupyterhub_api_token = "gateway-service-token"
c.JupyterHubAuthenticator.jupyterhub_service_name = "dask-gateway"
"""
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "alice-hub-token")
    monkeypatch.delenv("NBVIDEO_GATEWAY_WORKERS", raising=False)
    gen = serve(tmp_path, auth)
    server = next(gen)
    try:
        cfg = {"gateway.address": server.address, "gateway.auth.type": "basic",
               "gateway.auth.kwargs": {}}  # dask-gateway's defaults: nothing set but the address
        with dask.config.set(cfg), runner.dask_client("gateway", 1) as client:
            assert client.submit(lambda x: x + 1, 1).result(timeout=60) == 2
        assert hub.asked >= 1 and hub.refused == 0
        from dask_gateway import Gateway, JupyterHubAuth

        g = Gateway(server.address, auth=JupyterHubAuth("alice-hub-token"))
        try:
            assert g.list_clusters() == []
            assert len(g.list_clusters(status=["stopping", "stopped"])) == 1
        finally:
            g.close()
            del g._loop_runner
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "someone-elses-token")
        with dask.config.set(cfg), pytest.raises(ClusterUnavailable) as err:
            with runner.dask_client("gateway", 1):
                pass
        assert hub.refused >= 1
        assert "someone-elses-token" not in str(err.value)
    finally:
        gen.close()
        hub.stop()


# ------------------------------------------------------------------ without a server

def test_gateway_without_an_address_says_what_to_set(tmp_path: Path) -> None:
    with dask.config.set({"gateway.address": None}), pytest.raises(ClusterUnavailable) as err:
        with runner.dask_client("gateway", 2):
            pass
    assert "DASK_GATEWAY__ADDRESS" in str(err.value)


def test_gateway_without_dask_gateway_installed_names_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask_gateway", None)  # import fails as if not installed
    with pytest.raises(ClusterUnavailable) as err:
        with runner.dask_client("gateway", 2):
            pass
    assert "pip install nbvideo[gateway]" in str(err.value)


def test_gateway_workers_follow_the_variants_up_to_the_cap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBVIDEO_GATEWAY_WORKERS", raising=False)
    assert runner.gateway_workers(2) == 2
    assert runner.gateway_workers(50) == runner.GATEWAY_MAX_WORKERS
    monkeypatch.setenv("NBVIDEO_GATEWAY_WORKERS", "3")
    assert runner.gateway_workers(50) == 3
    monkeypatch.setenv("NBVIDEO_GATEWAY_WORKERS", "lots")
    with pytest.raises(nv.errors.InvalidInput, match="NBVIDEO_GATEWAY_WORKERS"):
        runner.gateway_workers(2)


def test_on_a_hub_the_users_token_is_the_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the auth left at dask-gateway's default and a hub token in the environment, the
    gateway client is made with auth="jupyterhub" (it sends `Authorization: jupyterhub
    <token>`)."""
    import dask_gateway

    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake(address: str, auth: object = None, **kwargs: object) -> object:
        seen.update(address=address, auth=auth)
        raise Stop

    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    monkeypatch.setattr(dask_gateway, "Gateway", fake)
    cfg = {"gateway.address": "http://hub:8000/services/dask-gateway",
           "gateway.auth.type": "basic", "gateway.auth.kwargs": {}}
    with dask.config.set(cfg), pytest.raises(ClusterUnavailable) as err:
        with runner.dask_client("gateway", 2):
            pass
    assert seen == {"address": "http://hub:8000/services/dask-gateway", "auth": "jupyterhub"}
    assert "hub-token" not in str(err.value)


def test_the_gateway_cluster_gets_one_worker_per_variant_with_the_one_core_env(
        server: GatewayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBVIDEO_GATEWAY_WORKERS", raising=False)
    with dask.config.set(server.config()), runner.dask_client("gateway", 2) as client:
        client.wait_for_workers(2, timeout=120)
        envs = client.run(lambda: {k: os.environ.get(k) for k in runner.ONE_CORE_EACH})
        threads = client.nthreads()
    assert len(envs) == 2
    assert all(env == runner.ONE_CORE_EACH for env in envs.values())
    assert set(threads.values()) == {1}
    g = server.gateway()
    try:
        assert g.list_clusters() == []
    finally:
        g.close()
        del g._loop_runner


def test_interrupting_the_wait_for_a_gateway_cluster_stops_it(
        server: GatewayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user who stops the run while the hub's cluster is still starting leaves nothing
    pending on the gateway (holding their quota until its idle timeout)."""
    from dask_gateway import Gateway

    def interrupted(self: object, name: str, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(Gateway, "connect", interrupted)
    with dask.config.set(server.config()), pytest.raises(KeyboardInterrupt):
        with runner.dask_client("gateway", 2):
            pass
    g = server.gateway()
    try:
        assert g.list_clusters() == []  # submitted, then stopped
        assert len(g.list_clusters(status=["stopping", "stopped"])) == 1
    finally:
        g.close()
        del g._loop_runner
