"""Per-item effects as a user sets them: the timeline's length follows speed, ramp and freeze
to the frame; a refused value names its field and changes nothing; undo takes an effect
back; a project saved before effects opens unchanged (tests/test_effects_render.py renders)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput, MediaMissing, PathEscape
from nbvideo.media.effects import check_cube, ramp_expr, tempo_filters
from nbvideo.model.effects import Effects
from tests.conftest import PROJECT_V4

FPS = 12  # the fixture's


def identity_cube(path: Path, n: int = 5) -> Path:
    rows = [f"{r / (n - 1):.6f} {g / (n - 1):.6f} {b / (n - 1):.6f}"
            for b in range(n) for g in range(n) for r in range(n)]
    path.write_text(f"TITLE \"identity\"\nLUT_3D_SIZE {n}\n" + "\n".join(rows) + "\n")
    return path


def test_a_project_saved_before_effects_opens_with_no_effects(old: nv.Project) -> None:
    raw = json.loads((PROJECT_V4 / "project.json").read_text())
    assert all("effects" not in e for e in raw["timeline"]["edits"].values())
    assert all(e.effects == Effects() for e in old.timeline)
    assert old.timeline.effects(1) == Effects()
    assert old.timeline.effects_table.empty
    # the upgrade is the only change recorded: effects at their default are no edit
    assert old.history.iloc[-1]["kind"] == "migrate"


def test_speed_ramp_and_freeze_change_the_cut_by_whole_frames(old: nv.Project) -> None:
    table = old.timeline.to_pandas()
    kept2 = float(table.iloc[1]["kept_s"])  # 2.916667 s of scene 2's clip
    before = round(old.timeline.duration_s * FPS)
    scene2 = round((float(table.iloc[1]["end_s"]) - float(table.iloc[1]["start_s"])) * FPS)
    assert scene2 == round(kept2 * FPS) == 35

    old.timeline.effects(2, speed=2)
    assert round(old.timeline.duration_s * FPS) == before - 35 + round(kept2 / 2 * FPS)
    old.timeline.effects(2, speed=0.25)
    assert round(old.timeline.duration_s * FPS) == before - 35 + round(kept2 * 4 * FPS)
    # a ramp 1x -> 0.4x -> 1x: the integral of 1/speed, closed form per linear stretch
    old.timeline.effects(2, ramp=[(0, 1), (0.5, 0.4), (1, 1)])
    half = kept2 / 2
    integral = 2 * half * math.log(0.4 / 1.0) / (0.4 - 1.0)
    ramp_frames = round(integral * FPS)
    assert round(old.timeline.duration_s * FPS) == before - 35 + ramp_frames
    assert old.timeline.effects(2).speed == 1.0  # the ramp replaced the constant speed
    # a freeze adds its hold, in whole frames
    old.timeline.effects(2, freeze=(1.0, 0.5))
    assert round(old.timeline.duration_s * FPS) == before - 35 + ramp_frames + 6
    # the next scene starts where this one ends (cut), frame-exact
    t = old.timeline.to_pandas()
    assert round(float(t.iloc[2]["start_s"]) * FPS) == round(float(t.iloc[1]["end_s"]) * FPS)
    # picture effects do not change time
    old.timeline.effects(3, look="mono", blur=3, vignette=0.4, reverse=True)
    assert round(old.timeline.duration_s * FPS) == before - 35 + ramp_frames + 6


def test_effects_are_one_undo_each_and_survive_a_reopen(old: nv.Project, tmp_path: Path) -> None:
    d0 = old.timeline.duration_s
    old.timeline.effects(2, speed=2, look="warm")
    d1 = old.timeline.duration_s
    assert d1 < d0
    old.undo()
    assert old.timeline.effects(2) == Effects() and old.timeline.duration_s == d0
    old.redo()
    assert old.timeline.effects(2).look == "warm"
    old.timeline.effects(2, reset=True, vignette=0.3)
    assert old.timeline.effects(2) == Effects(vignette=0.3)
    path = old.path
    old.close()
    p = nv.Project.open(path)
    try:
        assert p.timeline.effects(2) == Effects(vignette=0.3)
        assert list(p.timeline.effects_table["vignette"]) == [0.3]
    finally:
        p.close()


@pytest.mark.parametrize(("changes", "says"), [
    ({"speed": 5}, "scene 2: effects.speed: Input should be less than or equal to 4"),
    ({"speed": 0.1}, "scene 2: effects.speed: Input should be greater than or equal to 0.25"),
    ({"speed": float("nan")}, "scene 2: effects.speed"),
    ({"look": "sepia"}, "scene 2: effects.look"),
    ({"blur": -1}, "scene 2: effects.blur"),
    ({"vignette": 2}, "scene 2: effects.vignette"),
    ({"ramp": [(0, 1)]}, "scene 2: effects.ramp: a speed ramp needs at least two keys"),
    ({"ramp": [(0.5, 1), (0.2, 2)]}, "scene 2: effects.ramp: keys must be in rising order"),
    ({"ramp": [(0, 1), (1, 9)]}, "scene 2: effects.ramp.1.speed"),
    ({"freeze": (0.5, 0)}, "scene 2: effects.freeze.hold_s"),
    ({"freeze": (9.0, 1.0)}, "scene 2: effects.freeze.at_s (9 s) must be inside the clip"),
    ({"ken_burns": {"end_zoom": 0.5}}, "scene 2: effects.ken_burns.end_zoom"),
    ({"focus": {"21:9": (0.5, 0.5)}}, "scene 2: effects.focus"),
    ({"focus": (1.5, 0.5)}, "scene 2: effects.focus"),
    ({"lut": "../outside.cube"}, "scene 2: effects.lut"),
    ({"lut": "looks/film.png"}, "is not a .cube file"),
    ({"sparkle": 1}, "scene 2: effects: sparkle is not an effect"),
])
def test_a_refused_effect_names_its_field_and_changes_nothing(
        old: nv.Project, changes: dict, says: str) -> None:
    before = old.state.model_dump_json()
    with pytest.raises(InvalidInput) as exc:
        old.timeline.effects(2, **changes)
    assert says in str(exc.value)
    assert old.state.model_dump_json() == before


def test_speed_and_ramp_together_are_refused(old: nv.Project) -> None:
    with pytest.raises(InvalidInput, match="give speed or ramp, not both"):
        old.timeline.effects(2, speed=2, ramp=[(0, 1), (1, 2)])


def test_a_lut_must_be_a_readable_cube_inside_the_project(old: nv.Project, tmp_path: Path) -> None:
    with pytest.raises(MediaMissing, match="scene 1: effects.lut"):
        old.timeline.effects(1, lut="looks/missing.cube")
    (old.path / "looks").mkdir()
    (old.path / "looks" / "bad.cube").write_text("LUT_3D_SIZE 3\n0 0 0\n1 1 1\n")
    with pytest.raises(InvalidInput, match=r"scene 1: effects.lut: 'bad.cube' has 2 data rows"):
        old.timeline.effects(1, lut="looks/bad.cube")
    (old.path / "looks" / "one.cube").write_text("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    with pytest.raises(InvalidInput, match="is a 1D LUT"):
        old.timeline.effects(1, lut="looks/one.cube")
    outside = identity_cube(tmp_path / "outside.cube")
    (old.path / "looks" / "link.cube").symlink_to(outside)
    with pytest.raises(PathEscape, match="scene 1: effects.lut"):
        old.timeline.effects(1, lut="looks/link.cube")
    identity_cube(old.path / "looks" / "id.cube")
    assert old.timeline.effects(1, lut="looks/id.cube").lut == "looks/id.cube"
    assert check_cube(old.path / "looks" / "id.cube", "lut") == 5


def test_items_take_the_effects_that_fit_them(old: nv.Project) -> None:
    Image.new("RGB", (64, 48), (200, 30, 30)).save(old.path / "assets" / "logo.png")
    logo = old.timeline.add_image("assets/logo.png", 0.5, 2.0)
    fx = old.timeline.effects(logo.id, ken_burns=True, look="mono", vignette=0.5)
    assert fx.ken_burns is not None and old.timeline.item(logo.id).effects == fx
    with pytest.raises(InvalidInput, match=rf"item {logo.id}: effects.speed: an image has no time"):
        old.timeline.effects(logo.id, speed=2)
    with pytest.raises(InvalidInput, match=rf"item {logo.id}: effects.focus: a focus point is "
                                           "for scenes"):
        old.timeline.effects(logo.id, focus=(0.2, 0.2))
    text = old.timeline.add_text("Hi", 0, 1)
    with pytest.raises(InvalidInput, match="a text item has no effects"):
        old.timeline.effects(text.id, look="warm")
    with pytest.raises(InvalidInput, match="no scene with id"):
        old.timeline.effects("i00000000", look="warm")


def test_an_overlay_clip_keeps_its_stretch_of_file_and_its_length_follows(
        old: nv.Project) -> None:
    clip = next(old.path.glob("assets/clips/*.mp4")).relative_to(old.path).as_posix()
    item = old.timeline.add_clip(clip, 0.0, 1.5)
    fx = old.timeline.effects(item.id, speed=2)
    assert fx.speed == 2 and old.timeline.item(item.id).duration_s == 0.75
    old.timeline.effects(item.id, speed=0.5)  # the same 1.5 s of the file, at half speed
    assert old.timeline.item(item.id).duration_s == 3.0
    old.timeline.effects(item.id, freeze=(0.5, 1.0))
    assert old.timeline.item(item.id).duration_s == 4.0
    # lengthened on the film at its speed, it may not run past its file
    with pytest.raises(InvalidInput, match="at its effects' speed"):
        old.timeline.trim(item.id, end_s=6.0)


def test_the_ramp_expression_is_the_integral_of_one_over_speed() -> None:
    fx = Effects(ramp=[{"at": 0, "speed": 1}, {"at": 0.5, "speed": 0.4}, {"at": 1, "speed": 2}])
    expr = ramp_expr(fx, 4.0).replace("log(", "_log(")
    for T in (0.0, 0.7, 2.0, 2.9, 3.99):
        got = eval(expr.replace("if(lt(T,", "_if(_lt(T,"),  # our own expression
                   {"_log": lambda x: math.log(x) if x > 0 else math.nan, "T": T,
                    "_if": lambda c, a, b: a if c else b,
                    "_lt": lambda a, b: a < b})
        # numeric integral of 1/speed(s) from 0 to T
        n = 20000
        ds = T / n
        num = sum(ds / _speed(fx, (k + 0.5) * ds, 4.0) for k in range(n))
        assert got == pytest.approx(num, rel=1e-6, abs=1e-9)
        assert fx.time_at(T, 4.0) == pytest.approx(num, rel=1e-6, abs=1e-9)
    assert fx.source_for(fx.speed_s(4.0), 30) == pytest.approx(4.0)


def _speed(fx: Effects, s: float, source_s: float) -> float:
    ks = fx.keys()
    p = s / source_s
    for (a, va), (b, vb) in zip(ks, ks[1:]):
        if p <= b:
            return va + (vb - va) * (p - a) / (b - a)
    return ks[-1][1]


def test_tempo_below_half_is_chained() -> None:
    for tempo in (0.25, 0.4, 0.5, 2.0, 4.0):
        parts = [float(f.split("=")[1]) for f in tempo_filters(tempo).split(",")]
        assert math.prod(parts) == pytest.approx(tempo)
        assert all(0.5 <= x <= 100 for x in parts)  # what one atempo takes


def test_looks_are_listed() -> None:
    names = nv.looks()
    assert {"warm", "cool", "mono", "vintage", "punchy"} <= set(names)
    assert all(isinstance(v, str) and v for v in names.values())
