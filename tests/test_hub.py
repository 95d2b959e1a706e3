"""Team workspaces under a real JupyterHub: roles, the audit log and usage per person, with
identity coming from the hub that spawned each person's server, never from the test.

One JupyterHub for the module, on free loopback ports: the `shared-password` authenticator
(the successor of DummyAuthenticator's password), `SimpleLocalProcessSpawner` (no system
users), configurable-http-proxy from npm (`make test` installs it in .cache/chp) and a sqlite
database in the test's folder. Each person logs in through the hub's login form, the hub
starts their single-user server, and nbvideo runs in a kernel of that server, reached through
the proxy (`/user/<name>/api/kernels` and the kernel's websocket) with that person's token.
What JupyterHub does not do offline (an OAuth provider's sign-in) is not tested here.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import websocket

import nbvideo as nv

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CACHED_CHP = REPO / ".cache/chp/node_modules/.bin/configurable-http-proxy"  # make chp
PEOPLE = ("ana", "bo", "cy")  # the owner, an editor with a small budget, a viewer
GROUPS = {"acme-creatives": {"users": ["bo"]}, "acme-client": {"users": ["cy"]}}
ROLE_OF_GROUP = {"acme-creatives": "editor", "acme-client": "viewer"}
PASSWORD = secrets.token_urlsafe(12)
TIMEOUT_S = 120  # a bound on a hang, never a speed check

# The code every person's kernel starts with: one paid call through the project's real money
# gate (a model outside the catalog, priced by the caller, as in test_team.py), and a
# refusal reported as data rather than a traceback.
PRELUDE = """
import json
import os
import nbvideo as nv
from nbvideo.errors import BudgetExceeded, RoleRefused
from nbvideo.runtime.roles import identity

def spend(folder, usd):
    p = nv.Project.open(folder)
    try:
        rt = p.runtime
        with rt.paid(phase="clips", provider="replicate", model="fake-paid-video",
                     estimate_usd=usd, item="a hub test clip") as held:
            held.actual_usd = usd
            rt.log(phase="clips", provider="replicate", model="fake-paid-video",
                   cost_usd=usd, estimated_usd=usd, units=1, unit="clip")
    finally:
        p.close()

def hub_groups():
    # what the hub's API lists, asked with this server's own token
    import httpx
    r = httpx.get(os.environ["JUPYTERHUB_API_URL"] + "/groups",
                  headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]})
    if r.status_code != 200:
        return r.status_code
    return {g["name"]: g["users"] for g in r.json()}

def rewrite_brief(folder):
    p = nv.Project.open(folder)
    try:
        p.update(text="a rewritten brief")
    finally:
        p.close()

def attempt(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except (BudgetExceeded, RoleRefused) as exc:
        return {"refused": type(exc).__name__, "message": str(exc),
                "needed": getattr(exc, "needed", None)}
    return {"refused": None}

def as_someone_else(name, fn, *args, **kwargs):
    # a kernel that rewrites its hub variable: the hub's API still says whose server it is
    mine = os.environ["JUPYTERHUB_USER"]
    os.environ["JUPYTERHUB_USER"] = name
    try:
        return attempt(fn, *args, **kwargs)
    finally:
        os.environ["JUPYTERHUB_USER"] = mine

"""

# The single-user servers' own config: no call out (news, updates, PyPI), no terminals.
SERVER_CONFIG = {
    "ServerApp": {"terminals_enabled": False},
    "LabApp": {"news_url": None, "extension_manager": "readonly",
               "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
    "LanguageServerManager": {"autodetect": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _poll(what: str, check: Any, log: Path) -> Any:
    """Call `check` until it returns something truthy; fail with the hub's log after TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no log)"
    pytest.fail(f"{what} did not happen within {TIMEOUT_S}s (last: {last!r})\n"
                f"--- hub log ---\n{tail}", pytrace=False)


@dataclass
class Hub:
    """A running JupyterHub: its public URL (through the proxy), an admin token, its log."""

    url: str
    admin_token: str
    log: Path
    process: subprocess.Popen[bytes]

    def up(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"jupyterhub exited with code {self.process.returncode}:\n"
                        f"{self.log.read_text(errors='replace')[-6000:]}", pytrace=False)
        return self.api("GET", "").status_code == 200

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.admin_token}"}
        return httpx.request(method, f"{self.url}/hub/api/{path}", headers=headers,
                             timeout=30, **kw)


def _config(base: Path, ports: dict[str, int], admin_token: str, chp: Path) -> str:
    """The hub's jupyterhub_config.py, written for this run only."""
    home = base / "home" / "{username}"
    server_config = base / "jupyter-config"
    server_config.mkdir()
    (server_config / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG))
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "JUPYTER_CONFIG_DIR": str(server_config), "PYTHONUNBUFFERED": "1"}
    return textwrap.dedent(f"""
        c = get_config()  # noqa
        c.JupyterHub.bind_url = "http://127.0.0.1:{ports['public']}"
        c.JupyterHub.hub_bind_url = "http://127.0.0.1:{ports['hub']}"
        c.JupyterHub.db_url = "sqlite:///{base / 'hub.sqlite'}"
        c.JupyterHub.cookie_secret_file = "{base / 'cookie_secret'}"
        c.JupyterHub.pid_file = "{base / 'hub.pid'}"
        c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}  # the three start at once
        c.JupyterHub.authenticator_class = "shared-password"
        c.SharedPasswordAuthenticator.user_password = {PASSWORD!r}
        c.Authenticator.allowed_users = {set(PEOPLE)!r}
        c.JupyterHub.spawner_class = "simple"
        c.SimpleLocalProcessSpawner.home_dir_template = "{home}"
        c.Spawner.cmd = [{sys.executable!r}, "-m", "jupyterhub.singleuser"]
        c.Spawner.args = ["--allow-root"]  # the tests run as root
        c.Spawner.environment = {env!r}
        c.Spawner.start_timeout = {TIMEOUT_S}
        c.Spawner.http_timeout = {TIMEOUT_S}
        c.ConfigurableHTTPProxy.command = [{str(chp)!r}]
        c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports['proxy_api']}"
        c.ConfigurableHTTPProxy.pid_file = "{base / 'proxy.pid'}"
        c.JupyterHub.services = [{{"name": "hub-test", "api_token": {admin_token!r}}}]
        c.JupyterHub.load_groups = {GROUPS!r}
        # As docs/team.md says: an owner's server token may read the hub's groups.
        c.JupyterHub.load_roles = [
            {{"name": "hub-test", "services": ["hub-test"],
              "scopes": ["admin:users", "admin:servers", "tokens"]}},
            {{"name": "workspace-owner", "users": ["ana"],
              "scopes": ["list:groups", "read:groups"]}},
        ]
        c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server",
                                         "list:groups", "read:groups"]
    """)


def _ours(base: Path, hub_pid: int) -> list[psutil.Process]:
    """The hub and everything it started: its process tree, and anything that outlived a
    parent (the proxy, the servers and their kernels all run in a folder under `base`)."""
    found: dict[int, psutil.Process] = {}
    try:
        hub = psutil.Process(hub_pid)
        found.update({p.pid: p for p in (hub, *hub.children(recursive=True))})
    except psutil.NoSuchProcess:
        pass
    for p in psutil.process_iter():
        try:
            if Path(p.cwd()).is_relative_to(base):
                found[p.pid] = p
        except (psutil.Error, OSError):
            continue  # gone meanwhile, or a process we may not look at
    return list(found.values())


def _stop(process: subprocess.Popen[bytes], base: Path) -> list[str]:
    """Stop the hub (it stops the proxy and the servers, they stop their kernels); return
    what was still running afterwards, killed."""
    started = _ours(base, process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
    psutil.wait_procs(started, timeout=30)
    left = []
    for p in _ours(base, process.pid):
        try:
            left.append(f"{p.pid} {' '.join(p.cmdline()[:4])}")
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return left


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """JupyterHub with its proxy on free loopback ports; stopped, with everything it started,
    when the module is done, even after a failure."""
    chp = CACHED_CHP if CACHED_CHP.exists() else shutil.which("configurable-http-proxy")
    if chp is None:
        pytest.skip(f"configurable-http-proxy, the hub's proxy, is not installed: `make test` "
                    f"installs it from npm into {CACHED_CHP.parents[2].relative_to(REPO)} "
                    f"(`make chp` alone does too)")
    base = tmp_path_factory.mktemp("hub")
    ports = {name: _free_port() for name in ("public", "hub", "proxy_api")}
    admin_token = secrets.token_hex(24)
    config = base / "jupyterhub_config.py"
    config.write_text(_config(base, ports, admin_token, Path(chp)))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTERHUB_", "JPY_", "NBVIDEO_USER", "CONFIGPROXY"))}
    log = base / "hub.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)],
                                   cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    hub = Hub(f"http://127.0.0.1:{ports['public']}", admin_token, log, process)
    try:
        _poll("the hub answering through its proxy", lambda: hub.up(), log)
        yield hub
    finally:
        left = _stop(process, base)
        assert not left, f"still running after the hub stopped (now killed): {left}"


@dataclass
class Person:
    """One hub user's session: their token and a kernel in their own single-user server."""

    name: str
    hub: Hub
    token: str
    kernel: str
    session: str = field(default_factory=lambda: uuid.uuid4().hex)

    def run(self, code: str) -> str:
        """Execute `code` in the kernel over its websocket; stdout, or fail with the error."""
        url = self.hub.url.replace("http", "ws", 1) + \
            f"/user/{self.name}/api/kernels/{self.kernel}/channels?session_id={self.session}"
        ws = websocket.create_connection(url, header=[f"Authorization: token {self.token}"],
                                         timeout=TIMEOUT_S)
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name,
                       "session": self.session, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        out: list[str] = []
        error = None
        replied = idle = False
        try:
            while not (replied and idle):
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    error = "\n".join(msg["content"]["traceback"])
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
        finally:
            ws.close()
        if error:
            pytest.fail(f"code in {self.name}'s kernel failed:\n{error}", pytrace=False)
        return "".join(out)

    def value(self, expr: str) -> Any:
        """A JSON value computed in the kernel."""
        return json.loads(self.run(f"print(json.dumps({expr}))").strip().splitlines()[-1])


def _sign_in(hub: Hub, name: str) -> None:
    """Sign in through the hub's login form (a wrong password first), then have the hub
    start the person's server."""
    with httpx.Client(base_url=hub.url, timeout=30) as browser:
        browser.get("/hub/login")
        form = {"username": name, "password": PASSWORD,
                "_xsrf": browser.cookies.get("_xsrf", "")}
        wrong = browser.post("/hub/login", data={**form, "password": PASSWORD + "x"})
        assert wrong.status_code == 403 and "jupyterhub-session-id" not in wrong.cookies
        signed = browser.post("/hub/login", data=form)
        assert signed.status_code == 302, signed.text[-2000:]
        me = browser.get("/hub/api/user", headers={"X-XSRFToken": form["_xsrf"]})
        assert me.status_code == 200 and me.json()["name"] == name  # the cookie is theirs
    r = hub.api("POST", f"users/{name}/server")
    assert r.status_code in (201, 202), r.text


def _open_kernel(hub: Hub, name: str) -> Person:
    """Once the server is up: a token of this person's (only for their server) and a kernel
    in it, started through the proxy, that has run PRELUDE."""
    _poll(f"{name}'s server starting",
          lambda: hub.api("GET", f"users/{name}").json()["servers"].get("", {}).get("ready"),
          hub.log)
    made = hub.api("POST", f"users/{name}/tokens",
                   json={"note": "hub test", "expires_in": 3600,
                         "scopes": [f"access:servers!user={name}"]})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    kernel = httpx.post(f"{hub.url}/user/{name}/api/kernels", json={"name": "python3"},
                        headers={"Authorization": f"token {token}"}, timeout=60)
    assert kernel.status_code == 201, kernel.text
    person = Person(name, hub, token, kernel.json()["id"])
    person.run(PRELUDE)
    return person


@pytest.fixture(scope="module")
def people(hub: Hub) -> Iterator[dict[str, Person]]:
    """ana, bo and cy signed in, each with a kernel in their own server (started at once)."""
    for name in PEOPLE:
        _sign_in(hub, name)
    opened: dict[str, Person] = {}
    try:
        for name in PEOPLE:
            opened[name] = _open_kernel(hub, name)
        yield opened
    finally:  # kernels shut down by their servers, before the hub stops the servers
        for person in opened.values():
            try:
                httpx.delete(f"{hub.url}/user/{person.name}/api/kernels/{person.kernel}",
                             headers={"Authorization": f"token {person.token}"}, timeout=60)
            except httpx.HTTPError:
                pass  # the hub's stop and the leftover check in `hub` still apply


def _disk(folder: Path) -> dict[str, str]:
    """Every file of a project and its hash (what a refused action must not change)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def test_roles_audit_and_usage_through_a_real_hub(people: dict[str, Person],
                                                  tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    root = tmp_path_factory.mktemp("shared") / "agency"
    shoe = root / "shoe"
    ana, bo, cy = (people[name] for name in PEOPLE)
    for person in (ana, bo, cy):  # each kernel is who the hub spawned it for, and the hub's
        assert person.value("identity()") == person.name  # API confirmed it with the server's
        assert person.value("'JUPYTERHUB_API_TOKEN' in os.environ")  # token

    # ana, the hub's ana, makes the workspace (she is its owner without saying so) and takes
    # the roles from the hub's groups, which her server's token may read; the others' may not.
    assert bo.value("hub_groups()") == 403
    ana.run(f"""
nv.create_workspace({str(root)!r}, name="agency")
nv.roles_from_groups({str(root)!r}, hub_groups(), {ROLE_OF_GROUP!r})
nv.set_budget({str(root)!r}, 0.30, user="bo")
nv.Project.open({str(shoe)!r}, brief="8s ad for a trail shoe", duration_s=8.0,
                resolution="720p", fps=12).close()
spend({str(shoe)!r}, 0.50)
""")
    members = nv.workspace(root).members
    assert {n: (m.role, m.budget_usd) for n, m in members.items()} == {
        "ana": ("owner", None), "bo": ("editor", 0.30), "cy": ("viewer", None)}

    # bo, an editor: spends within his own budget, is stopped above it, may not raise it.
    assert bo.value(f"attempt(spend, {str(shoe)!r}, 0.20)") == {"refused": None}
    over = bo.value(f"attempt(spend, {str(shoe)!r}, 0.20)")
    assert over["refused"] == "BudgetExceeded"
    assert "over the budget of bo of $0.30" in over["message"]
    raise_own = bo.value(f"attempt(nv.set_budget, {str(root)!r}, 100, user='bo')")
    assert raise_own["refused"] == "RoleRefused" and raise_own["needed"] == "owner"
    assert nv.workspace(root).members["bo"].budget_usd == 0.30

    # cy, a viewer: every change refused, naming the role it needs; the project untouched.
    before = _disk(shoe)
    refused = [cy.value(f"attempt(spend, {str(shoe)!r}, 0.10)"),
               cy.value(f"attempt(rewrite_brief, {str(shoe)!r})")]
    for what, got in zip(("spend money in", "edit"), refused):
        assert got["refused"] == "RoleRefused" and got["needed"] == "editor"
        assert f"cy may not {what} project 'shoe'" in got["message"]
        assert "needs the editor role" in got["message"] and "cy is viewer" in got["message"]
    posing = cy.value(f"as_someone_else('ana', nv.set_role, {str(root)!r}, 'cy', 'owner')")
    assert posing["refused"] == "RoleRefused"
    assert "JUPYTERHUB_USER says 'ana' but the hub's API says this server's token belongs " \
           "to 'cy'" in posing["message"]
    assert nv.workspace(root).members["cy"].role == "viewer"
    assert _disk(shoe) == before

    # The audit log names the hub's user behind every action, done or refused.
    log = nv.audit(root)
    assert set(log["who"]) == set(PEOPLE)
    spends = log.query("action == 'spend' and outcome == 'done'")
    assert list(zip(spends["who"], spends["cost_usd"])) == [("ana", 0.50), ("bo", 0.20)]
    no = log.query("outcome == 'refused'")
    assert list(zip(no["who"], no["action"])) == [
        ("bo", "spend"), ("bo", "budget"), ("cy", "spend"), ("cy", "edit")]
    assert set(log.query("action == 'members'")["who"]) == {"ana"}
    assert nv.verify_audit(root) == len(log)

    # Usage splits the money by person, from the ledger's `user` column.
    paid = ana.value(  # the test process is nobody in the workspace: it may not even read
        f"nv.Project.open({str(shoe)!r}, read_only=True).costs.query('model == "
        f"\"fake-paid-video\"')[['user', 'status', 'cost_usd']].values.tolist()")
    assert [tuple(row) for row in paid] == [
        ("ana", "succeeded", 0.50), ("bo", "succeeded", 0.20), ("bo", "refused", 0.0)]
    usage = nv.usage(root).groupby("user")[["spend_usd", "clips", "refused"]].sum()
    assert usage.to_dict("index") == {
        "ana": {"spend_usd": pytest.approx(0.50), "clips": 1, "refused": 0},
        "bo": {"spend_usd": pytest.approx(0.20), "clips": 1, "refused": 1},
        "cy": {"spend_usd": 0.0, "clips": 0, "refused": 2}}
