"""Projects overview (`nv.projects`, `nbvideo ls`) and cost pictures (`p.cost_chart`,
`nv.spend_chart`): what a producer looking across a folder of projects would see."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

import nbvideo as nv
from nbvideo.cli import main as cli
from nbvideo.store.ledger import Ledger, LedgerEntry
from tests.conftest import BRIEF, SMALL

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def paid(phase: str, model: str, scene: str | None, usd: float, minutes: int,
         kind: str = "actual") -> LedgerEntry:
    """A ledger line as a paid provider writes it."""
    return LedgerEntry(time=T0 + dt.timedelta(minutes=minutes), phase=phase, scene=scene,
                       provider="replicate", model=model, units=1, unit="video",
                       unit_price_usd=usd, cost_usd=usd, kind=kind)  # type: ignore[arg-type]


@pytest.fixture
def root(rendered_template: Path, tmp_path: Path) -> Path:
    """A folder as a team has one: a rendered ad, a campaign variant just opened (questions
    only) with some paid spend, and a project whose project.json was truncated."""
    shutil.copytree(rendered_template, tmp_path / "shoe")
    b = nv.Project.open(tmp_path / "campaign" / "us-15s", brief=BRIEF, budget_usd=5.0, **SMALL)
    b.close()
    led = Ledger(tmp_path / "campaign" / "us-15s" / "ledger.jsonl")
    led.append(paid("clips", "kling-v2.1", None, 0.75, 0))
    led.append(paid("frames", "flux-schnell", None, 0.003, 5))
    led.append(paid("clips", "veo-3", None, 9.0, 6, kind="estimate"))  # not spend
    bad = tmp_path / "broken"
    shutil.copytree(rendered_template, bad)
    data = (bad / "project.json").read_bytes()
    (bad / "project.json").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes").mkdir()  # not a project: not listed
    return tmp_path


def test_projects_lists_each_project_with_phases_spend_and_a_row_for_the_broken_one(
    root: Path,
) -> None:
    df = nv.projects(root)
    assert sorted(Path(p).relative_to(root).as_posix() for p in df["path"]) == [
        "broken", "campaign/us-15s", "shoe"]
    rows = df.set_index(df["path"].map(lambda p: Path(p).name))
    shoe, variant, broken = rows.loc["shoe"], rows.loc["us-15s"], rows.loc["broken"]
    n = len(nv.Project.open(root / "shoe", read_only=True).scenes)
    assert shoe["scenes"] == n and shoe["storyboard"] == "done" and shoe["clips"] == "done"
    assert shoe["export"] == "0 file(s)" and shoe["error"] == ""
    assert Path(shoe["first_frame"]).exists() and shoe["aspect"] == "16:9"
    assert variant["scenes"] == 0 and variant["clips"] == "0/0"
    assert variant["spent_usd"] == pytest.approx(0.753)  # the estimate is not spend
    assert variant["budget_usd"] == 5.0
    assert "not valid JSON" in broken["error"] and pd.isna(broken["scenes"])
    # newest change first, the unreadable project last
    assert list(df["last_change"].dropna()) == sorted(df["last_change"].dropna(), reverse=True)
    assert pd.isna(df["last_change"].iloc[-1]) and df["error"].iloc[-1] != ""


def test_projects_reads_a_project_a_kernel_holds_open(root: Path) -> None:
    p = nv.Project.open(root / "shoe")  # holds the writer lock
    try:
        df = nv.projects(root / "shoe")
    finally:
        p.close()
    assert len(df) == 1 and df.loc[0, "error"] == ""


def test_overview_html_shows_first_frames_and_errors(root: Path) -> None:
    html = nv.projects(root)._repr_html_()
    assert html.count("data:image/jpeg;base64,") == 1  # only the rendered ad has a frame yet
    assert "not valid JSON" in html and BRIEF in html
    sub = nv.projects(root)[["name", "first_frame"]]  # a slice keeps the display
    assert "data:image/jpeg" in sub._repr_html_()


def test_projects_refuses_a_missing_root_naming_it(tmp_path: Path) -> None:
    with pytest.raises(nv.InvalidInput, match="root must be an existing folder"):
        nv.projects(tmp_path / "nope")
    assert nv.projects(tmp_path).empty


def test_nbvideo_ls_prints_the_overview(root: Path) -> None:
    res = CliRunner().invoke(cli, ["ls", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert any(line.lstrip().startswith("campaign/us-15s") and "$0.75 / $5.00" in line
               for line in lines)
    assert any("broken" in line and "not valid JSON" in line for line in lines)
    csv = CliRunner().invoke(cli, ["ls", str(root), "--csv"])
    assert csv.exit_code == 0 and csv.output.splitlines()[0].startswith("name,brief,aspect")
    empty = CliRunner().invoke(cli, ["ls", str(root / "notes")])
    assert "no nbvideo projects" in empty.output


def test_cost_chart_sums_spend_by_phase_model_and_scene(rendered: nv.Project,
                                                        tmp_path: Path) -> None:
    s1, s2 = rendered.scenes[0].id, rendered.scenes[1].id
    led = Ledger(rendered.path / "ledger.jsonl")
    for e in (paid("clips", "kling-v2.1", s1, 0.50, 1), paid("clips", "kling-v2.1", s2, 0.25, 2),
              paid("frames", "flux-schnell", s1, 0.04, 3), paid("frames", "flux-schnell", s2,
                                                                 0.04, 4),
              paid("clips", "veo-3", s1, 6.0, 5, kind="estimate")):
        led.append(e)
    fig = rendered.cost_chart()
    assert "$0.83" in fig.get_suptitle()
    by_phase, by_model, by_scene = fig.axes

    def bars(ax):  # type: ignore[no-untyped-def]
        names = [t.get_text() for t in ax.get_yticklabels()]
        return dict(zip(names, (round(p.get_width(), 4) for p in ax.patches), strict=True))

    assert bars(by_phase) == {"clips": 0.75, "frames": 0.08}
    assert bars(by_model) == {"kling-v2.1": 0.75, "flux-schnell": 0.08}
    scene_bars = bars(by_scene)
    assert sorted(scene_bars.values()) == [0.29, 0.54]
    assert any(k.startswith("1. ") for k in scene_bars)  # scenes by number, not id
    out = tmp_path / "costs.png"
    fig.savefig(out, dpi=80)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (12 * 80, int(3.6 * 80))


def test_cost_chart_of_an_offline_project_says_it_cost_nothing(rendered: nv.Project) -> None:
    fig = rendered.cost_chart()
    assert "$0.00" in fig.get_suptitle()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["$0: all local or cached"] * 3


def test_spend_chart_draws_each_project_and_the_total(root: Path) -> None:
    led = Ledger(root / "shoe" / "ledger.jsonl")
    led.append(paid("clips", "kling-v2.1", None, 1.25, 10))
    fig = nv.spend_chart(root)
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"shoe", "campaign/us-15s", "total"}
    assert lines["total"].get_ydata()[-1] == pytest.approx(0.75 + 0.003 + 1.25)
    assert lines["shoe"].get_ydata()[-1] == pytest.approx(1.25)
    assert "$2.00" in ax.get_title()
    with pytest.raises(nv.InvalidInput, match="where must be a folder or a Campaign"):
        nv.spend_chart(root / "missing")
    assert os.path.isdir(root)
