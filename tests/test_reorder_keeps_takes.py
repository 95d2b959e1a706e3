"""A reorder changes where a scene plays, not what it is: its frame and clip stay current.

Frames used to ask for the scene's number (and the offline panel drew it), so after a
reorder the board showed stale numbers and the next storyboard() made every moved frame
again, which made every moved clip stale too (paid again on a paid model)."""

from __future__ import annotations

import hashlib

import nbvideo as nv
from nbvideo.model.state import Scene, Take
from nbvideo.plan.storyboard import adopt_numbered_takes, frame_inputs, frame_request
from nbvideo.runtime.context import request_key


def takes(p: nv.Project) -> dict[str, tuple[str | None, str | None, int, int]]:
    return {s.id: (s.frame_take_id, s.clip_take_id, len(s.frame_takes), len(s.clip_takes))
            for s in p.state.scenes}


def test_after_a_reorder_nothing_is_made_again(rendered: nv.Project) -> None:
    before = takes(rendered)
    calls = len(rendered.costs)
    ids = [s.id for s in rendered.state.scenes]
    rendered.reorder(ids[::-1])
    rendered.storyboard()
    rendered.generate_clips().wait()
    assert takes(rendered) == before
    new = rendered.costs.iloc[calls:]
    assert set(new["status"]) <= {"cache_hit"} and float(new["cost_usd"].sum()) == 0.0


def test_the_frame_does_not_depend_on_the_scene_position(rendered: nv.Project) -> None:
    rt = rendered._rt
    first = rt.state.scenes[0]
    req = frame_request(rt, first)
    assert req.scene_number is None and "scene_number" not in frame_inputs(req)
    ids = [s.id for s in rt.state.scenes]
    rendered.reorder(ids[1:] + ids[:1])
    assert frame_request(rt, rt.state.scene(first.id)) == req
    frame = rendered.scene(first.id).frame
    data = (rendered.path / frame.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == frame.checksum  # the same panel, untouched


def _scene_with(take: Take) -> Scene:
    return Scene(id="s0000abcd", beat="hook", description="d", visual_prompt="v",
                 duration_s=3.0, frame_takes=[take], frame_take_id=take.id)


def test_a_paid_frame_made_with_the_number_is_reused_not_paid_again() -> None:
    inputs = {"beat": "hook", "visual_prompt": "v", "width": 1280}
    old = {**inputs, "scene_number": 3}
    take = Take(id="f1", kind="frame", key=request_key("openai", "gpt-image-1", old, 5),
                provider="openai", model="gpt-image-1", seed=5, inputs=old,
                status="succeeded", path="assets/frames/x.png", cost_usd=0.04)
    scene = _scene_with(take)
    adopt_numbered_takes(scene, "openai", "gpt-image-1", inputs, 5)
    assert scene.frame_takes[0].key == request_key("openai", "gpt-image-1", inputs, 5)
    assert scene.frame_takes[0].inputs == inputs


def test_other_inputs_or_an_offline_panel_with_the_number_drawn_are_not_adopted() -> None:
    inputs = {"beat": "hook", "visual_prompt": "v", "width": 1280}
    for provider, old in (("openai", {**inputs, "visual_prompt": "w", "scene_number": 1}),
                          ("local", {**inputs, "scene_number": 1})):
        key = request_key(provider, "m", old, 5)
        take = Take(id="f1", kind="frame", key=key, provider=provider, model="m", seed=5,
                    inputs=old, status="succeeded", path="assets/frames/x.png")
        scene = _scene_with(take)
        adopt_numbered_takes(scene, provider, "m", inputs, 5)
        assert scene.frame_takes[0].key == key and scene.frame_takes[0].inputs == old
