"""Template packs: install from a folder, git or a Python package; use their content in a
project; scaffold one from a project; and every refusal leaves the packs folder as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import nbvideo as nv
from nbvideo import cli
from nbvideo.errors import InvalidInput
from nbvideo.model import pack_format
from nbvideo.model.pack import pack_dir

NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Start here"},
                      {"cell_type": "code", "metadata": {}, "execution_count": None,
                       "outputs": [], "source": "import nbvideo as nv"}]}


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def make_pack(root: Path, name: str = "acme", version: str = "0.1.0") -> Path:
    """A pack with one of each kind: a brief template with its own structure (offer before
    proof), a brand kit with a logo, a look, a storyboard template and a notebook."""
    _write(root / "nbvideo-pack.json", {"name": name, "version": version, "author": "Ada",
                                        "licence": "CC-BY-4.0", "description": "Acme's ads"})
    (root / "README.md").write_text("# Acme templates\n", encoding="utf-8")
    brief = json.loads((pack_dir() / "briefs" / "explainer.json").read_text())
    brief.update(id="promo", name="Acme promo", duration_s=20, aspect="9:16",
                 beats=[{"beat": "hook"}, {"beat": "offer", "priority": 1},
                        {"beat": "proof", "priority": 2}, {"beat": "call-to-action"}],
                 fill=["offer"], durations=[], questions=[], copy={},
                 example_brief="20s ad for Acme's rain jacket sale")
    _write(root / "briefs" / "promo.json", brief)
    kit = json.loads((pack_dir() / "brands" / "trailhead.json").read_text())
    kit.update(name="Acme Bold", logo="bold-logo.png")
    _write(root / "brands" / "bold.json", kit)
    shutil.copyfile(pack_dir() / "brands" / "trailhead-logo.png", root / "brands" / "bold-logo.png")
    _write(root / "looks" / "night.json", {"style_words": ["neon night", "rain"],
                                            "palette": ["#101020", "#ff2a6d"], "seed": 11,
                                            "product": "red rain jacket",
                                            "logo": "night-logo.png"})
    shutil.copyfile(pack_dir() / "brands" / "volt-logo.png", root / "looks" / "night-logo.png")
    _write(root / "storyboards" / "intro.json", {
        "id": "intro", "name": "Intro", "aspect": "9:16",
        "scenes": [{"beat": "hook", "duration_s": 3, "visual_prompt": "rain on a window"},
                   {"beat": "call-to-action", "duration_s": 2, "visual_prompt": "logo",
                    "on_screen_text": "Shop now"}]})
    _write(root / "notebooks" / "start.ipynb", NOTEBOOK)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the packs folder (the lock file aside) with its bytes."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture
def packs_root(template_packs_of_its_own: Path) -> Path:
    return template_packs_of_its_own


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli.main, list(args))
    return res.exit_code, res.stdout, res.stderr


# ----------------------------------------------------------------------------- installing

def test_a_folder_installs_and_lists_with_its_origin_and_counts(tmp_path, packs_root):
    src = make_pack(tmp_path / "acme")
    code, out, err = _cli("templates", "install", str(src))
    assert code == 0, err
    assert "installed acme 0.1.0 from folder" in out
    df = nv.template_packs().set_index("name")
    assert df.index.tolist() == ["nbvideo", "acme"]
    assert df.loc["nbvideo", "origin"] == "built-in" and df.loc["nbvideo", "briefs"] == 6
    row = df.loc["acme"]
    assert (row.version, row.author, row.licence) == ("0.1.0", "Ada", "CC-BY-4.0")
    assert row.origin == f"folder {src.resolve()}"
    assert [row[k] for k in ("briefs", "storyboards", "brands", "looks", "notebooks")] == \
        [1, 1, 1, 1, 1]
    assert (packs_root / "acme").stat().st_mode & 0o777 == 0o755  # readable by a hub's users
    origin = json.loads((packs_root / "acme" / "origin.json").read_text())
    assert origin["kind"] == "folder" and origin["source"] == str(src.resolve())
    shutil.rmtree(src)  # a copy was installed: the source can go
    assert "acme/promo" in nv.templates()["template"].tolist()
    code, out, _ = _cli("templates", "list")
    assert code == 0 and "acme" in out and "built-in" in out


def test_a_packs_brief_template_and_brand_kit_make_a_new_project(tmp_path, packs_root):
    nv.install_pack(make_pack(tmp_path / "acme"))
    p = nv.Project.open(tmp_path / "p", template="promo", providers="local")  # bare: one pack
    try:
        p.finish(brand="acme/bold")
        p.set_look(template="acme/night")
    finally:
        p.close()
    state = json.loads((tmp_path / "p" / "project.json").read_text())
    assert state["brief"]["template"] == "acme/promo"  # saved by its full name
    assert state["brief"]["text"] == "20s ad for Acme's rain jacket sale"
    assert state["brief"]["aspect"] == "9:16"
    assert state["finishing"]["brand"] == "acme/bold"
    assert state["look"]["product"] == "red rain jacket" and state["look"]["seed"] == 11
    assert nv.load_brand("acme/bold").name == "Acme Bold"
    # reopening with the bare name the notebook cell still says is the same project
    nv.Project.open(tmp_path / "p", template="promo").close()


def test_an_ambiguous_bare_name_lists_the_packs_and_built_in_names_keep_working(tmp_path):
    nv.install_pack(make_pack(tmp_path / "acme"))
    nv.install_pack(make_pack(tmp_path / "other", name="other"))
    with pytest.raises(InvalidInput, match=r"'promo' is in more than one template pack: "
                                           r"acme/promo, other/promo"):
        nv.Project.open(tmp_path / "p", template="promo")
    assert not (tmp_path / "p" / "project.json").exists()
    with pytest.raises(InvalidInput, match="acme/bold, other/bold"):
        nv.load_brand("bold")
    assert nv.load_brand("trailhead").name == "Trailhead Outfitters"
    assert nv.load_brand("nbvideo/trailhead").name == "Trailhead Outfitters"
    assert "explainer" in nv.templates()["template"].tolist()


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _bare_repo(tmp_path: Path, src: Path, marker: Path) -> tuple[Path, str]:
    """A bare repository of `src`, with a post-checkout hook in it and in the git template
    folder a clone would copy hooks from: either would write `marker` if run."""
    hook = f"#!/bin/sh\ntouch {marker}\n"
    _git("init", "-q", "-b", "main", cwd=src)
    _git("add", "-A", cwd=src)
    _git("commit", "-q", "-m", "pack", cwd=src)
    bare = tmp_path / "acme.git"
    _git("clone", "-q", "--bare", str(src), str(bare))
    for hooks in (bare / "hooks", tmp_path / "git-template" / "hooks"):
        hooks.mkdir(parents=True, exist_ok=True)
        (hooks / "post-checkout").write_text(hook)
        (hooks / "post-checkout").chmod(0o755)
    return bare, _git("rev-parse", "HEAD", cwd=src)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_a_git_url_installs_at_its_commit_and_runs_no_hook(tmp_path, packs_root, monkeypatch):
    marker = tmp_path / "hook-ran"
    bare, commit = _bare_repo(tmp_path, make_pack(tmp_path / "acme"), marker)
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(tmp_path / "git-template"))
    done = nv.install_pack(f"file://{bare}")
    assert (done.name, done.origin.commit) == ("acme", commit)
    assert not marker.exists()
    assert not (packs_root / "acme" / ".git").exists()
    row = nv.template_packs().set_index("name").loc["acme"]
    assert row.origin == f"git file://{bare}@{commit[:12]}"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_a_symlink_in_a_git_checkout_is_refused(tmp_path, packs_root):
    src = make_pack(tmp_path / "acme")
    (src / "brands" / "secret.png").symlink_to("/etc/hostname")
    bare, _ = _bare_repo(tmp_path, src, tmp_path / "hook-ran")
    with pytest.raises(InvalidInput, match=r"brands/secret.png: is a symbolic link"):
        nv.install_pack(f"git+file://{bare}")
    assert snapshot(packs_root) == {}


def _fake_distribution(site: Path, marker: Path) -> None:
    """What pip leaves for a pack published on PyPI: the package (whose code would write
    `marker` if imported), its pack folder as package data, and the .dist-info."""
    pkg = site / "acme_pack"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    make_pack(pkg / "pack")
    info = site / "acme_pack-1.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-pack\nVersion: 1.2.0\n")
    (info / "entry_points.txt").write_text("[nbvideo.templates]\nacme = acme_pack:pack\n")


def test_a_python_package_entry_point_installs_without_running_its_code(tmp_path, packs_root,
                                                                         monkeypatch):
    marker = tmp_path / "imported"
    _fake_distribution(tmp_path / "site", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    code, out, err = _cli("templates", "install", "acme-pack")
    assert code == 0, err
    assert "installed acme 0.1.0 from package acme-pack==1.2.0" in out
    assert not marker.exists()
    assert nv.template_packs().set_index("name").loc["acme", "origin"] == \
        "package acme-pack==1.2.0"
    code, _, err = _cli("templates", "install", "no-such-pack")
    assert code == 2 and "no installed Python package declares a template pack" in err


# ----------------------------------------------------------------------------- refusals

def _bad(field: str, value: object) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        m = json.loads((root / "nbvideo-pack.json").read_text())
        m[field] = value
        _write(root / "nbvideo-pack.json", m)
    return edit


def _edit(rel: str, **changes: object) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        data = json.loads((root / rel).read_text())
        data.update(changes)
        _write(root / rel, data)
    return edit


def _file(rel: str, data: bytes = b"x") -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return edit


def _symlink(root: Path) -> None:
    (root / "looks" / "leak.png").symlink_to(pack_dir() / "brands" / "volt-logo.png")


def _oversize(root: Path) -> None:
    pack_format.MAX_FILE_BYTES = 10_000  # monkeypatched back by the test


def _pack_oversize(root: Path) -> None:
    pack_format.MAX_PACK_BYTES = 30_000


REFUSALS = {
    "manifest version": (_bad("version", "one"), r"nbvideo-pack.json: version: .*PEP 440"),
    "manifest name": (_bad("name", "Acme Ads"), r"nbvideo-pack.json: name"),
    "manifest licence": (_bad("licence", "; rm -rf /"), r"nbvideo-pack.json: licence"),
    "manifest builtin": (_bad("name", "nbvideo"), r"nbvideo-pack.json: name: .*built-in"),
    "brief field": (_edit("briefs/promo.json", beats=[{"beat": "intro"}]),
                    r"briefs/promo.json: beats.0.beat"),
    "brief id": (_edit("briefs/promo.json", id="other"), r"briefs/promo.json: id"),
    "brand field": (_edit("brands/bold.json", palette=["red"]),
                    r"brands/bold.json: palette.0"),
    "brand logo ..": (_edit("brands/bold.json", logo="../../outside.png"),
                      r"brands/bold.json: .*logo '../../outside.png' is outside"),
    "look absolute": (_edit("looks/night.json", reference_image="/etc/hostname"),
                      r"looks/night.json: look.reference_image '/etc/hostname' is outside"),
    "storyboard field": (_edit("storyboards/intro.json", scenes=[{"beat": "hook"}]),
                         r"storyboards/intro.json: scenes.0.duration_s"),
    "notebook": (_file("notebooks/bad.ipynb", b'{"nbformat": 3}'), r"notebooks/bad.ipynb: "),
    "deep json": (_file("briefs/deep.json", b"[" * 200_000), r"briefs/deep.json: nested too"),
    "symlink": (_symlink, r"looks/leak.png: is a symbolic link"),
    "python file": (_file("briefs/setup.py", b"import os"), r"briefs/setup.py: file type '.py'"),
    "shell script": (_file("install.sh", b"#!/bin/sh"), r"install.sh: file type '.sh'"),
    "no suffix": (_file("brands/run", b"#!/bin/sh"), r"brands/run: file type '\(none\)'"),
    "wrong place": (_file("briefs/pic.png", (pack_dir() / "brands" / "volt-logo.png")
                          .read_bytes()), r"briefs/pic.png: a .png file does not belong"),
    "fake image": (_file("looks/fake.png", b"not a png"), r"looks/fake.png: not an image"),
    "unknown folder": (_file("scripts/a.md"), r"scripts: not a template pack folder"),
    "odd name": (_file("looks/a b.md"), r"looks/a b.md: file name not allowed"),
    "oversize file": (_oversize, r"bytes is over the 10,000-byte limit"),
    "oversize pack": (_pack_oversize, r"over the 30,000-byte limit"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_pack_is_refused_naming_file_and_field_and_installs_nothing(
        case, tmp_path, packs_root, monkeypatch):
    monkeypatch.setattr(pack_format, "MAX_FILE_BYTES", pack_format.MAX_FILE_BYTES)
    monkeypatch.setattr(pack_format, "MAX_PACK_BYTES", pack_format.MAX_PACK_BYTES)
    nv.install_pack(make_pack(tmp_path / "installed", name="acme"))
    before = snapshot(packs_root)
    src = make_pack(tmp_path / "new", name="acme", version="0.2.0")
    edit, message = REFUSALS[case]
    edit(src)
    with pytest.raises(InvalidInput, match=message):
        nv.install_pack(src, force=True)
    assert snapshot(packs_root) == before  # the installed 0.1.0 untouched, no staging left
    assert [p.name for p in packs_root.iterdir() if p.name != ".lock"] == ["acme"]


def test_a_refusal_on_the_command_line_is_one_line_and_exit_2(tmp_path, packs_root):
    src = make_pack(tmp_path / "acme")
    _bad("version", "one")(src)
    code, out, err = _cli("templates", "install", str(src))
    assert code == 2
    assert err.startswith("error: nbvideo-pack.json: version:") and err.count("\n") == 1
    assert snapshot(packs_root) == {}


# ------------------------------------------------------------------- reinstall, remove, new

def test_reinstall_needs_force_and_remove_uninstalls(tmp_path, packs_root):
    nv.install_pack(make_pack(tmp_path / "v1"))
    code, _, err = _cli("templates", "install", str(make_pack(tmp_path / "v2", version="0.2")))
    assert code == 2 and "'acme' 0.1.0 is already installed (from folder" in err
    assert nv.template_packs().set_index("name").loc["acme", "version"] == "0.1.0"
    code, out, _ = _cli("templates", "install", "--force", str(tmp_path / "v2"))
    assert code == 0 and "installed acme 0.2 from folder" in out and "(replaced 0.1.0)" in out
    assert nv.template_packs().set_index("name").loc["acme", "version"] == "0.2"
    code, out, _ = _cli("templates", "remove", "acme")
    assert code == 0 and out.strip() == "removed acme 0.2"
    assert nv.template_packs()["name"].tolist() == ["nbvideo"]
    assert "acme/promo" not in nv.templates()["template"].tolist()
    code, _, err = _cli("templates", "remove", "acme")
    assert code == 2 and "no installed template pack 'acme'" in err
    code, _, err = _cli("templates", "remove", "nbvideo")
    assert code == 2 and "cannot be removed" in err


def test_new_scaffolds_a_pack_from_a_project_that_installs_and_round_trips(tmp_path,
                                                                          packs_root):
    nv.install_pack(make_pack(tmp_path / "acme"))
    p = nv.Project.open(tmp_path / "rain-jacket", template="acme/promo", providers="local")
    try:
        p.storyboard()
        p.finish(brand="acme/bold")
        p.set_look(template="acme/night")
        scenes = [(s.beat, s.visual_prompt, s.duration_s) for s in p.scenes]
        assert [s.beat for s in p.scenes] == ["hook", "offer", "proof", "call-to-action"]
    finally:
        p.close()
    code, out, err = _cli("templates", "new", "mine", "--from-project",
                          str(tmp_path / "rain-jacket"), "--out", str(tmp_path / "mine"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "mine" / "nbvideo-pack.json").read_text())
    assert (manifest["name"], manifest["version"]) == ("mine", "0.1.0") and manifest["author"]
    assert nv.install_pack(tmp_path / "mine").name == "mine"
    from nbvideo.model.templates import get_template
    from nbvideo.store.packs import load_look, load_storyboard

    assert [b.beat for b in get_template("mine/rain-jacket").beats] == \
        ["hook", "offer", "proof", "call-to-action"]
    board = load_storyboard("mine/rain-jacket")
    assert [(s.beat, s.visual_prompt, s.duration_s) for s in board.scenes] == scenes
    assert nv.load_brand("mine/rain-jacket").name == "Acme Bold"
    assert nv.load_brand("mine/rain-jacket").logo_path().read_bytes() == \
        (pack_dir() / "brands" / "trailhead-logo.png").read_bytes()
    look = load_look("mine/rain-jacket")
    assert look.product == "red rain jacket" and Path(look.logo or "").is_file()
    code, _, err = _cli("templates", "new", "mine", "--from-project",
                        str(tmp_path / "rain-jacket"), "--out", str(tmp_path / "mine"))
    assert code == 2 and "already exists and is not empty" in err
    code, _, err = _cli("templates", "new", "mine", "--from-project", str(tmp_path / "none"),
                        "--out", str(tmp_path / "x"))
    assert code == 3 and not (tmp_path / "x").exists()
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".")] == []


def test_a_killed_installs_leftovers_are_cleared_by_the_next_install(tmp_path, packs_root):
    stale = packs_root / ".staging-old"
    (stale / "briefs").mkdir(parents=True)
    os.utime(stale, (0, 0))
    fresh = packs_root / ".staging-now"  # another install under way: left alone
    fresh.mkdir()
    nv.install_pack(make_pack(tmp_path / "acme"))
    assert not stale.exists() and fresh.exists()
    assert nv.template_packs()["name"].tolist() == ["nbvideo", "acme"]


def test_a_copy_of_the_built_in_pack_with_a_manifest_installs(tmp_path, packs_root):
    """What nbvideo ships passes the checks a pack must: a copy is a valid starting point."""
    src = tmp_path / "house"
    shutil.copytree(pack_dir(), src)
    _write(src / "nbvideo-pack.json", {"name": "house", "version": "1.0", "author": "Ada",
                                       "licence": "MIT"})
    nv.install_pack(src)
    row = nv.template_packs().set_index("name").loc["house"]
    assert (row.briefs, row.brands) == (6, 3)
    assert nv.load_brand("house/volt").name == nv.load_brand("volt").name


def test_a_packs_storyboard_template_is_the_projects_plan_with_no_planner_call(tmp_path):
    nv.install_pack(make_pack(tmp_path / "acme"))
    p = nv.Project.open(tmp_path / "p", brief="10s ad for a red rain jacket", fps=12,
                        providers="local")
    try:
        scenes = p.storyboard(template="acme/intro")
        assert [(s.beat, s.visual_prompt, s.duration_s) for s in scenes] == \
            [("hook", "rain on a window", 3.0), ("call-to-action", "logo", 2.0)]
        assert all(s.frame is not None for s in scenes)  # frames made as for any plan
        assert "storyboard" not in set(p.costs["phase"])  # the planner was not asked
        with pytest.raises(InvalidInput, match="already has a storyboard; pass replan=True"):
            p.storyboard(template="acme/intro")
        first = [s.id for s in p.scenes]
        p.storyboard(replan=True, template="intro")
        assert len(p.scenes) == 2 and [s.id for s in p.scenes] != first
    finally:
        p.close()
    state = json.loads((tmp_path / "p" / "project.json").read_text())
    assert state["storyboard_title"] == "Intro" and len(state["archived_scenes"]) == 2
