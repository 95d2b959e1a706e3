"""The `nbvideo` command: the demo end to end, the project verbs, exit codes, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.media.ffmpeg import probe
from nbvideo.sound.loudness import measure_loudness


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbvideo.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_demo_renders_a_playable_ad_and_prints_paths_and_costs(tmp_path: Path) -> None:
    res = cli("demo", str(tmp_path / "demo"))
    assert res.returncode == 0, res.stderr
    paths = [Path(m) for m in re.findall(r"^\s+(\S+\.mp4)", res.stdout, re.MULTILINE)]
    assert len(paths) == 2
    sizes = {}
    for path in paths:
        info = probe(path)
        sizes[(info.width, info.height)] = info
        assert info.codec == "h264" and info.fps == pytest.approx(30)
    assert set(sizes) == {(1280, 720), (720, 1280)}
    state = json.loads((tmp_path / "demo" / "trail-shoe" / "project.json").read_text())
    n = len(state["scenes"])
    card = round(nv.load_brand("trailhead").end_card.duration_s * 30)
    for info in sizes.values():  # 30 s, 0.5 s crossfades, then the end card
        assert info.frames == 900 - 15 * (n - 1) + card
    for path in paths:  # a voice-over and music at the social-video loudness, with captions
        assert abs(measure_loudness(path).integrated_lufs - -14) <= 1
        assert path.with_suffix(".srt").read_text().count("-->") >= n - 2
    assert (tmp_path / "demo" / "trail-shoe" / "exports" / "review-sheet.pdf").is_file()
    assert "total" in res.stdout and "cost_usd" in res.stdout


def test_new_run_export_costs_round_trip(tmp_path: Path) -> None:
    proj = tmp_path / "My Shoe Ad"
    res = cli("new", str(proj), "--brief", "6s ad for a reusable water bottle", "--duration",
              "6", "--fps", "12")
    assert res.returncode == 0, res.stderr
    slug = tmp_path / "my-shoe-ad"
    assert "created" in res.stdout and slug.exists()
    assert "audience" in res.stdout or "tone" in res.stdout
    qid = next(iter(json.loads((slug / "project.json").read_text())["questions"]))["id"]
    res = cli("run", str(slug), "--answer", f"{qid}=people who forget to drink water",
              "--model", "auto", "--budget", "0")  # offline: auto is the free animatic
    assert res.returncode == 0, res.stderr
    assert nv.Project.open(slug, read_only=True).state.answers[qid] == "people who forget to drink water"
    res = cli("export", str(slug), "--format", "1:1", "--format", "4:5", "--fit", "pad")
    assert res.returncode == 0, res.stderr
    sizes = {(probe(p).width, probe(p).height) for p in (slug / "exports").glob("ad-*x*.mp4")}
    assert {(720, 720), (720, 900)} <= sizes
    res = cli("costs", str(slug), "--csv")
    assert res.returncode == 0 and res.stdout.startswith("phase,provider,model")
    res = cli("costs", str(slug), "--all")
    assert res.returncode == 0 and "rule-planner-v1" in res.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("run", "{tmp}/missing"), 3, "no nbvideo project"),
        (("new", "{tmp}/p", "--brief", "x"), 2, "brief"),
        (("new", "{tmp}/p", "--brief", "a fine brief", "--duration", "500"), 2, "duration_s"),
        (("export", "{tmp}/p", "--format", "21:9"), 2, "21:9"),
        (("run", "{tmp}/p", "--answer", "novalue"), 2, "id=value"),
        (("new", "{tmp}/p", "--brief", "a fine brief", "--providers", "acme"), 2, "providers='acme'"),
        (("new", "{tmp}/p", "--brief", "a fine brief", "--video-model", "flux-schnell"), 2,
         "models['video']: flux-schnell"),
    ],
)
def test_user_mistakes_exit_with_a_code_and_one_line(tmp_path: Path, args: tuple[str, ...],
                                                     code: int, message: str) -> None:
    res = cli(*(a.format(tmp=tmp_path) for a in args))
    assert res.returncode == code, (res.stdout, res.stderr)
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_corrupt_project_exits_3_and_restore_brings_it_back(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief="6s ad for a reusable water bottle", duration_s=6)
    p.ask()
    p.close()
    (tmp_path / "p" / "project.json").write_text("{")
    res = cli("export", str(tmp_path / "p"))
    assert res.returncode == 3 and "restore" in res.stderr and "Traceback" not in res.stderr
    res = cli("restore", str(tmp_path / "p"))
    assert res.returncode == 0, res.stderr
    nv.Project.open(tmp_path / "p").close()


def test_a_locked_project_exits_4(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief="6s ad for a reusable water bottle", duration_s=6)
    res = cli("run", str(tmp_path / "p"))
    p.close()
    assert res.returncode == 4 and "another process" in res.stderr


def test_export_before_clips_exits_5(tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief="6s ad for a reusable water bottle", duration_s=6)
    p.storyboard()
    p.close()
    res = cli("export", str(tmp_path / "p"))
    assert res.returncode == 5 and "generate_clips" in res.stderr


@pytest.mark.parametrize("command", ["demo", "new", "run", "export", "costs", "restore"])
def test_every_command_has_help(command: str) -> None:
    res = cli(command, "--help")
    assert res.returncode == 0 and "Usage:" in res.stdout
