"""Team workspaces: roles enforced per action, the audit log and its chain, budgets per person
and per workspace under concurrency, usage per person from the ledgers and the audit log."""

from __future__ import annotations

import hashlib
import http.server
import json
import multiprocessing
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

import nbvideo as nv
from nbvideo.cli import main
from nbvideo.errors import BudgetExceeded, InvalidInput, RoleRefused
from nbvideo.runtime import roles
from nbvideo.store.audit import AuditLog
from tests.conftest import BRIEF, SMALL

PAID_MODEL = "fake-paid-video"  # outside the catalog: no lifecycle, priced by the caller


def spend(p: nv.Project, usd: float, scene: str | None = None) -> None:
    """One paid call of `usd` through the project's real money gate, logged as clips are."""
    rt = p.runtime
    with rt.paid(phase="clips", provider="replicate", model=PAID_MODEL, estimate_usd=usd,
                 item="a test clip", scene=scene) as held:
        held.actual_usd = usd
        rt.log(phase="clips", provider="replicate", model=PAID_MODEL, cost_usd=usd,
               estimated_usd=usd, scene=scene, units=1, unit="clip")


def as_user(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("JUPYTERHUB_USER", name)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)


def disk(folder: Path) -> dict[str, str]:
    """Every file of a project and its content hash (what a refused action must not change)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A workspace owned by ana: bo editor, cy reviewer, vi viewer; one planned project."""
    monkeypatch.delenv("NBVIDEO_USER", raising=False)
    root = tmp_path / "agency"
    as_user(monkeypatch, "ana")
    nv.create_workspace(root, name="agency")
    for user, role in (("bo", "editor"), ("cy", "reviewer"), ("vi", "viewer")):
        nv.set_role(root, user, role)
    p = nv.Project.open(root / "shoe", brief=BRIEF, **SMALL)
    p.storyboard()
    p.close()
    yield root


def test_a_project_outside_any_workspace_checks_no_roles(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(monkeypatch, "nobody-listed")
    p = nv.Project.open(tmp_path / "solo", brief=BRIEF, **SMALL)
    p.storyboard()
    p.budget_usd = 1.0
    spend(p, 0.25)
    p.approve(1)
    assert p.runtime.roles is None
    assert set(p.costs["user"]) == {"nobody-listed"}
    assert not list(tmp_path.rglob("audit.jsonl"))
    p.close()


def test_viewer_reads_but_may_not_edit_spend_or_approve(ws: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(monkeypatch, "vi")
    p = nv.Project.open(ws / "shoe")
    assert len(p.scenes) >= 2 and not p.costs.empty  # reading is a viewer's right
    before = disk(ws / "shoe")
    title = p.scenes[0].title
    with pytest.raises(RoleRefused, match="vi may not edit .* needs the editor role") as exc:
        p.edit_scene(1, title="a viewer's title")
    assert (exc.value.needed, exc.value.role) == ("editor", "viewer")
    assert p.scenes[0].title == title  # refused: not even the open handle changed
    with pytest.raises(RoleRefused, match="spend money in .* needs the editor role"):
        spend(p, 0.10)
    with pytest.raises(RoleRefused, match="needs the reviewer role"):
        p.approve(1)
    with pytest.raises(RoleRefused, match="needs the owner role"):
        p.budget_usd = 5.0
    with pytest.raises(RoleRefused, match="vi may not edit"):
        p.snapshot("viewer-mark")  # a history mark, not a save: checked before it is written
    with pytest.raises(RoleRefused, match="vi may not edit"):
        p.import_clip(1, ws / "nbvideo-workspace.json")  # refused before anything is copied
    p.close()
    assert disk(ws / "shoe") == before
    refused = nv.audit(ws).query("outcome == 'refused'")
    assert list(refused["who"]) == ["vi"] * 6
    assert list(refused["action"]) == ["edit", "spend", "review", "budget", "edit", "edit"]
    assert set(refused["project"]) == {"shoe"}


def test_reviewer_approves_and_comments_but_may_not_edit(ws: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(monkeypatch, "cy")
    p = nv.Project.open(ws / "shoe")
    p.user = "Cy the Client"  # a display name: it names the comment, never the role
    p.approve(1, "looks right")
    p.comment(2, "warmer light?")
    with pytest.raises(RoleRefused, match="needs the editor role"):
        p.update(text="a reviewer rewrites the brief")
    assert p.review.loc[0, "status"] == "approved"
    assert p.comments["author"].tolist()[-2:] == ["Cy the Client", "Cy the Client"]
    p.close()
    log = nv.audit(ws)
    mine = log[log["who"] == "cy"]
    assert list(zip(mine["action"], mine["outcome"])) == [
        ("approve", "done"), ("comment", "done"), ("edit", "refused")]


def test_editor_spends_within_own_budget_and_owner_sets_it(ws: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    nv.set_budget(ws, 0.30, user="bo")  # ana, the owner
    as_user(monkeypatch, "bo")
    p = nv.Project.open(ws / "shoe")
    spend(p, 0.20)
    with pytest.raises(BudgetExceeded, match="over the budget of bo of \\$0.30") as exc:
        spend(p, 0.20)
    assert exc.value.budget == "budget of bo" and exc.value.spent_usd == pytest.approx(0.20)
    with pytest.raises(RoleRefused, match="change budgets of workspace 'agency'.*owner role"):
        nv.set_budget(ws, 100, user="bo")
    with pytest.raises(RoleRefused, match="change members of workspace"):
        nv.set_role(ws, "bo", "owner")
    p.close()
    assert nv.workspace(ws).members["bo"].budget_usd == 0.30
    assert nv.workspace(ws).members["bo"].role == "editor"
    as_user(monkeypatch, "ana")
    nv.set_budget(ws, 1.0, user="bo")
    as_user(monkeypatch, "bo")
    p = nv.Project.open(ws / "shoe")
    spend(p, 0.20)  # the owner raised the cap: the same call now fits
    p.close()
    paid = nv.Project.open(ws / "shoe", read_only=True).costs
    rows = paid[paid["model"] == PAID_MODEL]
    assert list(zip(rows["status"], rows["user"])) == [
        ("succeeded", "bo"), ("refused", "bo"), ("succeeded", "bo")]


def test_workspace_budget_caps_everyone_together(ws: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    nv.set_budget(ws, 0.50)
    nv.set_role(ws, "cy", "editor")
    as_user(monkeypatch, "bo")
    p = nv.Project.open(ws / "shoe")
    spend(p, 0.30)
    p.close()
    as_user(monkeypatch, "cy")
    q = nv.Project.open(ws / "boot", brief="8s ad for a leather boot", **SMALL)
    with pytest.raises(BudgetExceeded, match="over the workspace budget of \\$0.50"):
        spend(q, 0.30)
    spend(q, 0.20)
    q.close()
    assert nv.usage(ws)["spend_usd"].sum() == pytest.approx(0.50)


def test_owner_role_per_project_override(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nv.set_role(ws, "vi", "editor", project="shoe")
    as_user(monkeypatch, "vi")
    p = nv.Project.open(ws / "shoe")
    p.edit_scene(1, title="an editor here")
    p.close()
    with pytest.raises(RoleRefused, match="create projects in project 'boot'"):
        nv.Project.open(ws / "boot", brief="8s ad for a leather boot", **SMALL)
    assert not (ws / "boot").exists()  # refused before the folder was made


def test_a_workspace_keeps_an_owner_and_checks_its_file(ws: Path) -> None:
    with pytest.raises(InvalidInput, match="at least one owner"):
        nv.set_role(ws, "ana", "editor")
    with pytest.raises(InvalidInput, match="role must be one of viewer, reviewer, editor, owner"):
        nv.set_role(ws, "bo", "admin")
    data = json.loads((ws / "nbvideo-workspace.json").read_text())
    data["members"]["bo"]["role"] = "boss"
    (ws / "nbvideo-workspace.json").write_text(json.dumps(data))
    with pytest.raises(InvalidInput, match=r"nbvideo-workspace.json: members\.bo\.role"):
        nv.workspace(ws)


def test_roles_map_from_hub_groups(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    groups = {"acme-creatives": ["bo", "di"], "acme-client": ["cy", "di"], "staff": ["ed"]}
    nv.roles_from_groups(ws, groups, {"acme-creatives": "editor", "acme-client": "reviewer"})
    roles_now = {n: m.role for n, m in nv.workspace(ws).members.items()}
    assert roles_now == {"ana": "owner", "bo": "editor", "cy": "reviewer", "di": "editor",
                         "vi": "viewer"}
    as_user(monkeypatch, "bo")
    with pytest.raises(RoleRefused, match="change members"):
        nv.roles_from_groups(ws, groups, {"staff": "owner"})
    assert "ed" not in nv.workspace(ws).members


@pytest.mark.parametrize("groups, mapping, message", [
    (403, {"staff": "editor"}, "groups must be a mapping"),  # a failed API call's status
    ({"staff": ["ed"]}, ["staff"], "mapping must be a mapping"),
    ({"staff": "ed"}, {"staff": "editor"}, r"groups\['staff'\] must be a list of user names"),
    ({"staff": 7}, {"staff": "editor"}, r"groups\['staff'\] must be a list of user names"),
])
def test_hub_groups_of_the_wrong_shape_are_refused_and_change_nothing(
        ws: Path, groups: object, mapping: object, message: str) -> None:
    before = (ws / "nbvideo-workspace.json").read_bytes()
    with pytest.raises(InvalidInput, match=message):
        nv.roles_from_groups(ws, groups, mapping)  # type: ignore[arg-type]
    assert (ws / "nbvideo-workspace.json").read_bytes() == before


def test_display_name_never_changes_role(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(monkeypatch, "vi")
    monkeypatch.setenv("NBVIDEO_USER", "ana")  # the owner's name as a display name
    p = nv.Project.open(ws / "shoe")
    assert p.user == "ana"
    with pytest.raises(RoleRefused, match="vi may not edit"):
        p.edit_scene(1, title="pretending")
    p.close()


class _Hub(http.server.BaseHTTPRequestHandler):
    name = "bo"

    def do_GET(self) -> None:
        ok = self.path == "/hub/api/user" and self.headers["Authorization"] == "token t0k"
        body = json.dumps({"name": self.name}).encode() if ok else b"{}"
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_hub_api_confirms_who_the_server_belongs_to(monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("JUPYTERHUB_API_URL", f"http://127.0.0.1:{server.server_port}/hub/api")
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t0k")
        roles._hub_name.cache_clear()
        monkeypatch.setenv("JUPYTERHUB_USER", "bo")
        assert roles.identity() == "bo"
        monkeypatch.setenv("JUPYTERHUB_USER", "ana")  # a kernel rewrote its variable
        with pytest.raises(RoleRefused, match="JUPYTERHUB_USER says 'ana' but the hub's API "
                                              "says this server's token belongs to 'bo'"):
            roles.identity()
    finally:
        server.shutdown()
        roles._hub_name.cache_clear()


# ---------------------------------------------------------------------------- audit chain
@pytest.fixture
def chain(tmp_path: Path) -> AuditLog:
    (tmp_path / "nbvideo-workspace.json").write_text(
        json.dumps({"members": {"ana": {"role": "owner"}}}))
    log = AuditLog(tmp_path)
    for n in range(1, 6):
        log.append(who="ana", action="spend", project="shoe", cost_usd=n / 10, detail=f"call {n}")
    assert log.verify() == []
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines(keepends=True)


def _verify(log: AuditLog) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify", str(log.root)])
    return result.exit_code, result.output


def test_audit_verify_passes_a_whole_log(chain: AuditLog) -> None:
    code, out = _verify(chain)
    assert code == 0 and "5 entries, chain intact" in out
    assert nv.audit(chain.root)["cost_usd"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_audit_verify_names_an_edited_line(chain: AuditLog) -> None:
    lines = _lines(chain)
    lines[2] = lines[2].replace('"cost_usd":0.3', '"cost_usd":0.03')
    chain.path.write_text("".join(lines))
    code, out = _verify(chain)
    assert code == 11 and "line 3: entry #3 was edited" in out


def test_audit_verify_names_an_edited_line_with_its_hash_redone(chain: AuditLog) -> None:
    from nbvideo.store.audit import AuditEntry

    lines = _lines(chain)
    forged = AuditEntry.model_validate_json(lines[1]).model_copy(update={"cost_usd": 0.0})
    forged.hash = forged.digest()
    lines[1] = forged.model_dump_json() + "\n"
    chain.path.write_text("".join(lines))
    code, out = _verify(chain)
    assert code == 11 and "line 3: entry #3 does not follow the line before it (line 2" in out


def test_audit_verify_names_a_removed_line(chain: AuditLog) -> None:
    lines = _lines(chain)
    del lines[1]
    chain.path.write_text("".join(lines))
    code, out = _verify(chain)
    assert code == 11 and "line 2: entry #2 was removed; entry #3 is here" in out


def test_audit_verify_notices_lines_cut_from_the_end(chain: AuditLog) -> None:
    chain.path.write_text("".join(_lines(chain)[:3]))
    code, out = _verify(chain)
    assert code == 11 and "line 4: entries #4 to #5 were removed from the end" in out


def test_audit_verify_names_reordered_lines(chain: AuditLog) -> None:
    lines = _lines(chain)
    lines[1], lines[3] = lines[3], lines[1]
    chain.path.write_text("".join(lines))
    code, out = _verify(chain)
    assert code == 11 and "line 2: entry #2 is out of order" in out


# ---------------------------------------------------------------------------- concurrency
def _spender(root: str, user: str, project: str, calls: int, usd: float,
             start: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    import os

    os.environ["JUPYTERHUB_USER"] = user
    os.environ.pop("JUPYTERHUB_API_TOKEN", None)
    p = nv.Project.open(Path(root) / project)
    start.wait(60)
    made = refused = 0
    for _ in range(calls):
        try:
            spend(p, usd)
            made += 1
        except BudgetExceeded:
            refused += 1
    p.close()
    out.put((user, project, made, refused))


def test_people_spending_at_once_never_pass_either_cap(ws: Path) -> None:
    """ana and bo each spend from two kernels at once; bo's cap and the workspace's hold."""
    nv.set_role(ws, "bo", "editor")
    nv.set_budget(ws, 1.00)
    nv.set_budget(ws, 0.40, user="bo")
    for name in ("boot", "sock"):
        nv.Project.open(ws / name, brief=f"8s ad for a {name}", **SMALL).close()
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    jobs = [("bo", "shoe"), ("bo", "boot"), ("ana", "sock")]
    procs = [ctx.Process(target=_spender, args=(str(ws), u, proj, 12, 0.05, start, out))
             for u, proj in jobs]
    for proc in procs:
        proc.start()
    start.set()
    results = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    usage = nv.usage(ws)
    per_user = usage.groupby("user")["spend_usd"].sum()
    assert per_user["bo"] <= 0.40 + 1e-9
    assert usage["spend_usd"].sum() <= 1.00 + 1e-9
    made = sum(r[2] for r in results)
    refused = sum(r[3] for r in results)
    assert made + refused == 36 and refused > 0
    # every cent either cap allowed was used: nothing was held back by a stale hold
    assert usage["spend_usd"].sum() == pytest.approx(1.00)
    assert per_user["bo"] == pytest.approx(0.40)
    assert json.loads((ws / ".nbvideo" / "budget.json").read_text())["in_flight"] == {}
    assert nv.audit(ws).query("action == 'spend' and outcome == 'done'")["cost_usd"].sum() \
        == pytest.approx(1.00)
    assert nv.verify_audit(ws) == len(nv.audit(ws))  # three writers at once: the chain holds


def test_a_call_whose_cost_is_logged_is_not_counted_again_while_it_finishes(
        ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost row lands in the ledger before the call's block ends (its audit entry, its
    files): in that gap the logged part of its hold has become spend, so another person's
    call that fits the workspace cap exactly is let through, not refused for dollars
    counted twice."""
    nv.set_budget(ws, 0.10)
    as_user(monkeypatch, "bo")
    p = nv.Project.open(ws / "shoe")
    as_user(monkeypatch, "ana")
    q = nv.Project.open(ws / "sock", brief="8s ad for a wool sock", **SMALL)
    with p.runtime.paid(phase="clips", provider="replicate", model=PAID_MODEL,
                        estimate_usd=0.08, item="a test clip") as held:
        held.actual_usd = 0.05
        p.runtime.log(phase="clips", provider="replicate", model=PAID_MODEL, cost_usd=0.05,
                      estimated_usd=0.08, units=1, unit="clip")
        # 0.05 spent + what is left of the 0.08 estimate + 0.02 = the cap, exactly
        spend(q, 0.02)
        with pytest.raises(BudgetExceeded, match=r"\$0\.07 spent \+ \$0\.03 in flight"):
            spend(q, 0.01)
    spend(q, 0.03)  # the call is over: what it did not spend is free again
    assert json.loads((ws / ".nbvideo" / "budget.json").read_text())["in_flight"] == {}
    assert nv.usage(ws)["spend_usd"].sum() == pytest.approx(0.10)
    p.close()
    q.close()


# ---------------------------------------------------------------------------- usage
def test_usage_matches_the_ledgers_and_charts_as_png(ws: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(monkeypatch, "bo")
    p = nv.Project.open(ws / "shoe")
    for usd in (0.10, 0.25):
        spend(p, usd)
    p.runtime.log(phase="clips", provider="replicate", model=PAID_MODEL, status="failed",
                  cost_usd=0.05)
    p.close()
    as_user(monkeypatch, "ana")
    q = nv.Project.open(ws / "shoe")
    spend(q, 0.40)
    costs = q.costs
    q.close()
    table = nv.usage(ws)
    mine = table.groupby("user")[["spend_usd", "clips", "frames", "failed_calls"]].sum()
    ledger = costs[costs["kind"] == "actual"].groupby("user")["cost_usd"].sum()
    assert mine["spend_usd"].to_dict() == pytest.approx(ledger.to_dict())
    assert mine.loc["bo", "spend_usd"] == pytest.approx(0.40)
    assert mine.loc["bo", "failed_calls"] == 1 and mine.loc["bo", "clips"] == 2
    frames = int(((costs["phase"] == "frames") & (costs["status"] == "succeeded")
                  & ~costs["cache_hit"] & (costs["user"] == "ana")).sum())
    assert mine.loc["ana", "frames"] == frames > 0
    assert set(table["project"]) == {"shoe"} and table["week"].str.match(r"\d{4}-\d\d-\d\d").all()
    png = tmp_path / "usage.png"
    nv.usage_chart(ws, save_to=png)
    with Image.open(png) as img:
        assert img.format == "PNG" and img.width > 500
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 10  # bars drawn, not a blank page


def test_old_ledger_rows_without_a_user_count_as_unknown(ws: Path) -> None:
    ledger = ws / "shoe" / "ledger.jsonl"
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    for row in rows:
        row.pop("user")
    ledger.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = nv.usage(ws).set_index("user")
    assert table.loc["unknown", "frames"] > 0  # the ledger's rows, read without a user
    assert table.loc["ana", "frames"] == 0  # ana's row is the audit log's (she made it)


@pytest.mark.slow
def test_viewer_exports_and_the_export_is_audited(rendered_template: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "agency"
    as_user(monkeypatch, "ana")
    nv.create_workspace(root)
    nv.set_role(root, "vi", "viewer")
    shutil.copytree(rendered_template, root / "shoe")
    as_user(monkeypatch, "vi")
    p = nv.Project.open(root / "shoe")
    records = p.export("preview", formats=["16:9"])
    assert (p.path / records[0].path).stat().st_size > 0
    with pytest.raises(RoleRefused, match="needs the editor role"):
        p.trim(1, in_s=0.5)
    p.close()
    log = nv.audit(root)
    done = log[(log["who"] == "vi") & (log["outcome"] == "done")]
    assert done["action"].tolist() == ["export"]
    assert nv.usage(root).set_index("user").loc["vi", "exports"] == 1
