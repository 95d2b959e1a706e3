"""Text animations as a user meets them before any render: pop and slide written as the
item's keyframes (seen in the items table, changed with the keyframe API), typewriter and
words kept on the item, each one undo step, bad input refused naming the field and what is
allowed, and projects saved before animations keeping their history hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nbvideo as nv
from nbvideo.edit.text_animation import reveal_frames, units
from nbvideo.errors import InvalidInput
from nbvideo.model.tracks import TextAnimation, TextItem

FPS = 12  # the fixture's


def kfs(p: nv.Project, item_id: str, prop: str) -> list[tuple[float, float, str]]:
    return [(k.t_s, k.value, k.easing) for k in p.timeline.item(item_id).keyframes[prop]]


def test_pop_is_written_as_scale_and_opacity_keyframes_ending_at_the_items_look(
        old: nv.Project) -> None:
    t = old.timeline.add_text("SALE", 1.0, 2.0, scale=1.5, opacity=0.8, animation="pop")
    assert t.animation == TextAnimation(kind="pop", in_s=0.416667, out_s=0.0)  # 0.4 s on frames
    scale = kfs(old, t.id, "scale")
    assert [s[0] for s in scale] == [0.0, 0.25, 0.416667]  # whole frames: 0, 3, 5
    assert [s[1] for s in scale] == pytest.approx([0.45, 1.68, 1.5])  # 30%, 112%, its own
    assert [s[2] for s in scale] == ["ease-out", "ease-in-out", "ease-in-out"]
    assert kfs(old, t.id, "opacity") == [(0.0, 0.0, "ease-out"), (0.25, 0.8, "linear")]
    row = old.timeline.items.set_index("id").loc[t.id]
    assert row["animation"] == "pop" and row["keyframed"] == ["opacity", "scale"]


def test_slide_comes_in_from_its_side_and_leaves_the_way_it_came(old: nv.Project) -> None:
    t = old.timeline.add_text("Hello", 0.0, 3.0, x=0.4, y=0.7)
    old.timeline.animate(t.id, "slide", in_s=0.5, out_s=1.0, direction="right")
    assert kfs(old, t.id, "x") == [(0.0, 0.55, "ease-out"), (0.5, 0.4, "linear"),
                                   (2.0, 0.4, "ease-in"), (3.0, 0.55, "linear")]
    assert [k[1] for k in kfs(old, t.id, "opacity")] == [0.0, 1.0, 1.0, 0.0]
    old.timeline.animate(t.id, "slide", direction="up")
    item = old.timeline.item(t.id)
    assert "x" not in item.keyframes  # the old slide's keyframes are gone
    assert [k[1] for k in kfs(old, t.id, "y")] == pytest.approx([0.55, 0.7])
    # moving the item's home moves the slide with it
    old.timeline.set(t.id, y=0.5)
    assert [k[1] for k in kfs(old, t.id, "y")] == pytest.approx([0.35, 0.5])


def test_typewriter_and_words_keep_their_timing_on_the_item_and_fade_out_as_keyframes(
        old: nv.Project) -> None:
    t = old.timeline.add_text("Buy one get one", 0.5, 3.0,
                              animation={"kind": "words", "out_s": 0.5})
    assert t.animation.kind == "words" and t.animation.in_s == pytest.approx(14 / 12)  # 4 x 0.3 s on frames
    assert set(t.keyframes) == {"opacity"}
    assert kfs(old, t.id, "opacity") == [(2.5, 1.0, "ease-in"), (3.0, 0.0, "linear")]
    old.timeline.animate(t.id, "typewriter", in_s=1.0)
    item = old.timeline.item(t.id)
    assert item.animation.kind == "typewriter" and item.keyframes == {}
    assert units(item.text, "typewriter") == list("Buy one get one")
    assert units("two words\nand more", "words") == ["two", "words", "and", "more"]
    # 15 characters over 12 frames: several on one frame, the first at once, all by frame 11
    frames = reveal_frames(15, 12)
    assert frames[0] == 0 and frames[-1] == 11 and frames == sorted(frames)


def test_hand_keyframes_on_other_properties_stay_and_none_takes_the_animation_off(
        old: nv.Project) -> None:
    t = old.timeline.add_text("Hi", 0.0, 2.0)
    old.timeline.keyframe(t.id, "rotation", 0.0, 0.0)
    old.timeline.keyframe(t.id, "rotation", 1.0, 90.0)
    old.timeline.animate(t.id, "pop")
    assert set(old.timeline.item(t.id).keyframes) == {"rotation", "scale", "opacity"}
    old.timeline.keyframe(t.id, "scale", 0.25, 2.0)  # the user changes the pop by hand
    assert (0.25, 2.0, "linear") in kfs(old, t.id, "scale")
    old.timeline.animate(t.id, None)
    item = old.timeline.item(t.id)
    assert item.animation is None and set(item.keyframes) == {"rotation"}


def test_each_animation_change_is_one_undo_step(old: nv.Project) -> None:
    t = old.timeline.add_text("Hi", 0.0, 2.0, animation="pop")  # one step with the item
    old.undo()
    assert not len(old.timeline.items)
    old.redo()
    assert old.timeline.item(t.id).animation.kind == "pop"
    old.timeline.animate(t.id, "slide", direction="down")
    old.undo()
    item = old.timeline.item(t.id)
    assert item.animation.kind == "pop" and set(item.keyframes) == {"scale", "opacity"}


def test_trimming_an_animated_item_fits_its_animation_again(old: nv.Project) -> None:
    t = old.timeline.add_text("Hi", 0.0, 3.0, animation={"kind": "pop", "in_s": 1.0,
                                                           "out_s": 1.0})
    assert kfs(old, t.id, "scale")[-1][0] == 3.0
    old.timeline.trim(t.id, end_s=1.5)  # shorter than in + out: both cut in proportion
    item = old.timeline.item(t.id)
    assert item.animation.in_s + item.animation.out_s == pytest.approx(1.5)
    assert kfs(old, t.id, "scale")[-1][0] == 1.5  # the way out ends at the new end


@pytest.mark.parametrize(("call", "match"), [
    (lambda tl, i: tl.animate(i, "spin"),
     r"animation: 'spin' is not a text animation; use one of pop, slide, typewriter, words"),
    (lambda tl, i: tl.animate(i, "slide", direction="sideways"),
     r"direction: 'sideways' is not a side; use one of left, right, up, down"),
    (lambda tl, i: tl.animate(i, "pop", in_s=1.5, out_s=1.0),
     r"in_s \+ out_s \(2.5 s\) must fit in the item's duration_s \(2 s\)"),
    (lambda tl, i: tl.animate(i, "pop", in_s=0), r"in_s must be seconds \(a finite number above"),
    (lambda tl, i: tl.animate(i, "pop", out_s=float("nan")), r"out_s must be seconds"),
    (lambda tl, i: tl.add_text("x", animation={"kind": "pop", "speed": 2}),
     r"animation: speed is not an animation field; use kind, in_s, out_s, direction"),
    (lambda tl, i: tl.add_text("x", animation=3),
     r"animation must be one of pop, slide, typewriter, words"),
    (lambda tl, i: tl.add_image("assets/logo.png", animation="pop"),
     r"animation: only text items animate"),
    (lambda tl, i: tl.animate("i12345678", "pop"), r"item_id: no timeline item 'i12345678'"),
])
def test_bad_animations_are_refused_naming_the_field_and_nothing_changes(
        old: nv.Project, call, match) -> None:
    from PIL import Image

    Image.new("RGBA", (8, 8), (255, 0, 0, 255)).save(old.path / "assets" / "logo.png")
    t = old.timeline.add_text("Hello", 1.0, 2.0)
    before = old.state.model_dump_json()
    events = len(old.history)
    with pytest.raises(InvalidInput, match=match):
        call(old.timeline, t.id)
    assert old.state.model_dump_json() == before and len(old.history) == events


def test_a_text_item_saved_before_animations_keeps_its_history_hash(old: nv.Project) -> None:
    from nbvideo.store.history import normal, state_hash

    old.timeline.add_text("Hi", 0.0, 1.0)
    st = old.state
    n = normal(st)
    (item,) = n["timeline"]["tracks"]["V2"]["items"].values()
    assert "animation" not in item  # as a project saved before the field was
    dumped = st.model_dump(mode="json")
    for it in dumped["timeline"]["tracks"]["V2"]["items"].values():
        del it["animation"]  # what project.json written by older code holds
    again = type(st).model_validate(dumped)
    assert state_hash(normal(again)) == state_hash(n)
    old.timeline.animate(item["id"], "typewriter")
    assert "animation" in normal(old.state)["timeline"]["tracks"]["V2"]["items"][item["id"]]


def test_the_reveal_map_numbers_every_piece_of_ink_by_its_unit_in_reading_order() -> None:
    import io

    from PIL import Image

    from nbvideo.render.overlay_items import reveal_image

    font = Path(nv.__file__).parent / "data" / "fonts" / "Manrope-ExtraBold.ttf"
    item = TextItem(id="i00000001", duration_s=2.0, text="ab cd\nef", color="#ffffff",
                    animation=TextAnimation(kind="words", in_s=1.0))
    png = Image.open(io.BytesIO(reveal_image(item, font, "#ffffff", None, (640, 360))))
    a = np.asarray(png.convert("RGBA")).astype(int)
    h = a.shape[0] // 3
    text, bare, code = a[:h], a[h:2 * h], a[2 * h:]
    unit = code[..., 0] * 256 + code[..., 1]
    assert set(np.unique(unit)) == {0, 1, 2, 3}  # ab, cd, ef
    assert not bare[..., 3].any()  # no box: nothing where the letters are not
    inked = text[..., 3] > 0
    assert (unit[inked] > 0).all() and (unit[~inked] == 0).all()
    cols = {u: np.nonzero((unit == u).any(axis=0))[0] for u in (1, 2)}
    assert cols[1].max() < cols[2].min()  # "ab" left of "cd"
    rows = {u: np.nonzero((unit == u).any(axis=1))[0] for u in (1, 3)}
    assert rows[1].max() < rows[3].min()  # "ef" on the line below
