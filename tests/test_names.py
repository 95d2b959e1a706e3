"""Old names kept one release: each `.frame()` that returned a DataFrame still works, returns
the same table as its new spelling, and warns once (at the caller's line) naming that spelling.

"frame" now means a storyboard image, as in `SceneHandle.frame` (the chosen frame take).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbvideo as nv
from nbvideo.handles import Exports
from nbvideo.model.state import ExportRecord


def call_old(old: Callable[[], Any]) -> tuple[Any, list[warnings.WarningMessage]]:
    with pytest.warns(DeprecationWarning) as rec:
        value = old()  # the line every warning must point at
    return value, list(rec)


def assert_deprecated(old: Callable[[], pd.DataFrame], new: Callable[[], pd.DataFrame],
                      spelling: str) -> None:
    value, warned = call_old(old)
    assert len(warned) == 1, [str(w.message) for w in warned]
    w = warned[0]
    assert w.category is DeprecationWarning
    assert spelling in str(w.message) and "storyboard image" in str(w.message)
    assert w.filename == __file__  # stacklevel points at the caller, not at nbvideo
    pd.testing.assert_frame_equal(value, new())


def test_scene_list_frame_still_works_and_names_to_pandas(rendered: nv.Project) -> None:
    scenes = rendered.scenes
    assert_deprecated(scenes.frame, scenes.to_pandas, "SceneList.to_pandas()")
    assert list(scenes.to_pandas()["id"]) == [s.id for s in scenes]


def test_timeline_frame_still_works_and_names_to_pandas(rendered: nv.Project) -> None:
    tl = rendered.timeline
    assert_deprecated(tl.frame, tl.to_pandas, "TimelineView.to_pandas()")
    assert len(tl.to_pandas()) == len(rendered.scenes)


def test_exports_frame_still_works_and_names_to_pandas(tmp_path: Path) -> None:
    rec = ExportRecord(path="exports/ad-16x9.mp4", aspect="16:9", resolution="720p", fit="crop",
                       width=1280, height=720, duration_s=8.0, frames=96, fps=12.0,
                       size_bytes=1000, stream_copy=False)
    exports = Exports(tmp_path, [rec])
    assert_deprecated(exports.frame, exports.to_pandas, "Exports.to_pandas()")
    assert exports.to_pandas().loc[0, "aspect"] == "16:9"


def test_diff_frame_still_works_and_names_to_pandas(rendered: nv.Project) -> None:
    rendered.snapshot("before")
    rendered.edit_scene(1, title="Dry at last")
    d = rendered.diff("before")
    assert_deprecated(d.frame, d.to_pandas, "StateDiff.to_pandas()")
    assert d.to_pandas()["change"].tolist() == ["changed"]


def test_campaign_frame_still_works_and_names_results(fresh: nv.Project, tmp_path: Path) -> None:
    c = nv.variants(fresh, hooks=["Wet feet again?", "Built for the storm"],
                    path=tmp_path / "camp")
    value, warned = call_old(c.frame)
    assert len(warned) == 1 and "Campaign.results" in str(warned[0].message)
    assert warned[0].filename == __file__
    pd.testing.assert_frame_equal(value, c.results)


def test_questions_read_as_a_table_with_their_answers(fresh: nv.Project) -> None:
    fresh.answer(tone="Gritty")
    df = fresh.questions.to_pandas().set_index("id")
    assert list(df.index) == fresh.questions.ids
    assert df.loc["tone", "answer"] == "Gritty" and df.loc["tone", "kind"] == "choice"

