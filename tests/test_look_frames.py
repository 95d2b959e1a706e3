"""The project look reaches every frame: local frames in the kit's palette with its logo; paid
frames with the style words and, where the model takes one, the product photo (over the API
doubles on 127.0.0.1); a change of look remakes exactly the frames it changes."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput
from nbvideo.model.color import hex_rgb
from nbvideo.providers.base import FrameRequest
from nbvideo.providers.local.frames import draw_frame
from nbvideo.store.brands import load_brand
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.replicate_double import ReplicateDouble

BRIEF = "15s ad for a waterproof trail running shoe"
TOKEN = "r8_" + "x" * 30
STYLE = ["cinematic", "35mm film look"]


def shoe_photo(path: Path) -> Path:
    im = Image.new("RGB", (256, 256), (128, 128, 128))
    im.paste((242, 106, 33), (40, 150, 216, 200))  # an orange sole on grey
    im.save(path)
    return path


def local_project(tmp_path: Path) -> nv.Project:
    p = nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, fps=12)
    p.answer()
    return p


def frame_pixels(p: nv.Project, scene: object) -> np.ndarray:
    return np.asarray(Image.open(p.path / scene.frame.path).convert("RGB"), dtype=np.int16)


# ------------------------------------------------------------------------ local frames
def test_local_frames_draw_in_the_kits_palette_and_show_its_logo(tmp_path: Path) -> None:
    p = local_project(tmp_path)
    p.finish(brand="trailhead", logo=False)  # no watermark: the frames carry the logo
    look = p.set_look()
    kit = load_brand("trailhead")
    assert sorted(look.palette) == sorted(kit.palette) and look.logo
    scenes = p.storyboard()
    orange = np.array(hex_rgb("#f26a21"))  # the kit's accent, which no planner tone has
    logo = Image.open(kit.logo_path()).convert("RGBA")
    for s in scenes:
        px = frame_pixels(p, s)
        near_orange = (np.abs(px - orange).sum(axis=2) < 40).mean()
        assert near_orange > 0.01, s.id  # the product and the number badge in brand orange
        assert s.frame.inputs["palette"] == look.palette
        assert s.frame.inputs["logo_sha256"] == hashlib.sha256(
            kit.logo_path().read_bytes()).hexdigest()
    # The logo sits in the top-left corner: the same request drawn without it differs there
    # and only there.
    req = FrameRequest(scene_number=1, beat="hook", description="d", visual_prompt="a trail",
                       shot="wide", camera="static", aspect="16:9", width=640, height=360,
                       palette=look.palette, logo=kit.logo_path(), seed=3)
    with_logo = np.asarray(draw_frame(req), dtype=np.int16)
    without = np.asarray(draw_frame(req.model_copy(update={"logo": None})), dtype=np.int16)
    diff = np.abs(with_logo - without).sum(axis=2) > 30
    ys, xs = np.nonzero(diff)
    assert diff.mean() > 0.003
    assert xs.max() < 640 * 0.35 and ys.max() < 360 * 0.3  # top-left, clear of the caption
    # its opaque pixels are the logo's: the mark's own colours show through
    lw = xs.max() - xs.min() + 1
    lh = round(logo.height * lw / logo.width)
    mark = np.asarray(logo.resize((lw, lh)).convert("RGB"), dtype=np.int16)
    alpha = np.asarray(logo.resize((lw, lh)).getchannel("A")) > 250
    placed = with_logo[ys.min():ys.min() + lh, xs.min():xs.min() + lw]
    assert np.abs(placed[alpha] - mark[alpha]).mean() < 12


def test_frames_leave_the_logo_to_the_exports_watermark(tmp_path: Path) -> None:
    """One logo in the film: while the export lays the kit's logo as a watermark, local
    frames do not draw it too; with the watermark off they do (the look's logo)."""
    p = local_project(tmp_path)
    p.finish(brand="trailhead", logo=False)
    p.set_look()
    with_logo = {s.id: (s.frame.checksum, frame_pixels(p, s)) for s in p.storyboard()}
    assert all("logo_sha256" in s.frame.inputs for s in p.scenes)
    p.finish(logo=True)  # the export watermarks the kit's logo now
    for s in p.storyboard():
        assert "logo_sha256" not in s.frame.inputs and s.frame.checksum != with_logo[s.id][0]
        # the frames differ in the top-left corner, where the logo was, and nowhere else
        px, before = frame_pixels(p, s), with_logo[s.id][1]
        ys, xs = np.nonzero(np.abs(px - before).sum(axis=2) > 30)
        assert len(xs) > 200 and xs.max() < px.shape[1] * 0.35 and ys.max() < px.shape[0] * 0.3
    # turning the watermark off again brings the logo frames back, as the same takes
    n_takes = sum(len(s.frame_takes) for s in p.scenes)
    p.finish(logo=False)
    p.storyboard()
    assert {s.id: s.frame.checksum for s in p.scenes} == {k: v[0] for k, v in with_logo.items()}
    assert sum(len(s.frame_takes) for s in p.scenes) == n_takes


def test_frames_are_clean_while_the_export_burns_text_and_toggling_back_reuses_takes(
        tmp_path: Path) -> None:
    """Captions of spoken lines or the scenes' own text burned in: local frames drop the
    board's marks (part of their request, so p.storyboard() redraws them, free); without
    burned text they are the board panels again, the same takes as before."""
    from nbvideo.plan.storyboard import frame_marks, unmarked

    p = local_project(tmp_path)
    board = {s.id: (s.frame.id, s.frame.checksum, dict(s.frame.inputs)) for s in p.storyboard()}
    assert all("annotations" not in v[2] for v in board.values())  # keys as before this option
    assert frame_marks(p._rt) == ("board", True)
    p.finish(brand="trailhead", voice="narrator-f")  # captions of the voice lines
    assert frame_marks(p._rt) == ("clean", False)
    p.storyboard()
    for s in p.scenes:
        assert s.frame.inputs["annotations"] == "clean" and s.frame.checksum != board[s.id][1]
        assert unmarked(s.frame.inputs) == board[s.id][2]  # the scene is the same
    assert p.costs.query("phase == 'frames'")["cost_usd"].fillna(0).sum() == 0
    n_takes = sum(len(s.frame_takes) for s in p.scenes)
    p.finish(voice=None, captions=True, logo=False)  # nothing burned, no watermark
    assert frame_marks(p._rt) == ("board", True)
    p.storyboard()
    assert {s.id: s.frame.id for s in p.scenes} == {k: v[0] for k, v in board.items()}
    assert sum(len(s.frame_takes) for s in p.scenes) == n_takes
    p.finish(scene_text=True)  # the scenes' on-screen text burned in: clean again
    assert frame_marks(p._rt) == ("clean", True)
    p.finish(scene_text=False, voice="narrator-f", captions=False)  # voice, no captions
    assert frame_marks(p._rt) == ("board", True)


def test_a_change_of_look_remakes_only_the_frames_it_changes(tmp_path: Path) -> None:
    p = local_project(tmp_path)
    p.storyboard()
    plain = {s.id: s.frame.checksum for s in p.scenes}
    p.finish(brand="trailhead")
    p.set_look()
    p.storyboard()
    looked = {s.id: s.frame.checksum for s in p.scenes}
    assert all(looked[k] != plain[k] for k in plain)  # palette and logo: every frame anew
    # A reference photo or style words mean nothing to local frames: nothing is redrawn.
    shoe_photo(p.path / "shoe.png")
    p.set_look(reference_image="shoe.png", style_words=["cinematic"])
    n_takes = sum(len(s.frame_takes) for s in p.scenes)
    p.storyboard()
    assert {s.id: s.frame.checksum for s in p.scenes} == looked
    assert sum(len(s.frame_takes) for s in p.scenes) == n_takes
    # A new palette is a new look for every scene; removing the look brings the old frames back
    p.set_look(palette=["#101010", "#2040a0", "#f0f0f0"])
    p.storyboard()
    assert all(s.frame.checksum not in (plain[s.id], looked[s.id]) for s in p.scenes)
    p.set_look(off=True)
    p.storyboard()
    assert {s.id: s.frame.checksum for s in p.scenes} == plain
    assert p.look is None


def test_bad_look_settings_are_named_and_change_nothing(tmp_path: Path) -> None:
    p = local_project(tmp_path)
    with pytest.raises(InvalidInput, match="palette"):
        p.set_look(palette=["orange"])
    with pytest.raises(InvalidInput, match="reference_image"):
        p.set_look(reference_image="missing.png")
    assert p.look is None
    assert nv.Project.open(tmp_path / "p").look is None


# ------------------------------------------------------------------------ paid frames
def test_openai_frames_carry_the_style_words_and_the_product_photo(
        openai_double: OpenAIDouble, tmp_path: Path) -> None:
    p = nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, fps=12, providers="openai",
                        models={"image": "gpt-image-2.6-flare"})
    p.answer()
    photo = shoe_photo(p.path / "shoe.png")
    p.set_look(style_words=STYLE, product="grey trail shoe", reference_image="shoe.png")
    scenes = p.storyboard()
    edits = openai_double.bodies("/v1/images/edits")
    assert len(edits) == len(scenes) and not openai_double.bodies("/v1/images/generations")
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    for body in edits:
        assert body["model"] == "gpt-image-2.6-flare" and "input_fidelity" not in body
        assert [f["sha256"] for f in body["image"]] == [sha]
        assert body["image"][0]["content_type"] == "image/png"
        for word in (*STYLE, "grey trail shoe"):
            assert word in body["prompt"]
    for s in scenes:  # the scene keeps its own prompt; the take records what was sent
        assert "35mm film look" not in s.visual_prompt
        assert "35mm film look" in s.frame.inputs["prompt_sent"]
        assert s.frame.inputs["reference_sha256"] == sha
    # Same look: nothing is asked again. New style words: every frame is asked again.
    p.storyboard()
    assert len(openai_double.bodies("/v1/images/edits")) == len(scenes)
    p.set_look(style_words=["watercolour"], reference_image=None)
    p.storyboard()
    gens = openai_double.bodies("/v1/images/generations")
    assert len(gens) == len(scenes) and all("watercolour" in g["prompt"] for g in gens)
    p.close()


@pytest.fixture
def replicate_double(replicate_env: ReplicateDouble) -> ReplicateDouble:
    replicate_env.latency_s = 0.05
    return replicate_env


def test_replicate_reference_goes_only_to_a_model_that_takes_one(
        replicate_double: ReplicateDouble, tmp_path: Path) -> None:
    for model in ("flux-kontext-pro", "flux-schnell"):
        p = nv.Project.open(tmp_path / model, brief=BRIEF, duration_s=15, fps=12,
                            providers="replicate", models={"image": model})
        p.answer()
        # An absolute path is fine while it is inside the project (issue 16: not elsewhere).
        photo = shoe_photo(p.path / "shoe.png")
        p.set_look(style_words=STYLE, reference_image=str(photo), seed=1234)
        scenes = p.storyboard()
        ref = p._rt.providers.frames.spec.ref
        inputs = replicate_double.inputs(ref)
        assert len(inputs) == len(scenes)
        for inp in inputs:
            assert all(w in inp["prompt"] for w in STYLE)
            assert inp["seed"] == 1234  # the look's seed, the same for every scene
            if model == "flux-kontext-pro":
                head, data = inp["input_image"].split(",", 1)
                assert head == "data:image/png;base64"
                assert base64.b64decode(data) == photo.read_bytes()
            else:
                assert "input_image" not in inp and "image" not in inp
        assert p.costs.query("provider == 'replicate'")["cost_usd"].sum() > 0
        p.close()
    assert replicate_double.charged_usd == pytest.approx(
        len(scenes) * 0.04 + len(scenes) * 0.003)


def test_paid_frames_are_not_asked_again_when_the_finishing_changes(
        replicate_double: ReplicateDouble, tmp_path: Path) -> None:
    """Paid models never drew the board's marks: burned text or a watermark changes
    nothing about their request, so nothing is paid again."""
    p = nv.Project.open(tmp_path / "paid", brief=BRIEF, duration_s=15, fps=12,
                        providers="replicate", models={"image": "flux-schnell"})
    p.answer()
    scenes = p.storyboard()
    ref = p._rt.providers.frames.spec.ref
    keys = {s.id: (s.frame.id, s.frame.key) for s in scenes}
    charged = replicate_double.charged_usd
    p.finish(brand="trailhead", voice="narrator-f", scene_text=True)
    p.storyboard()
    assert {s.id: (s.frame.id, s.frame.key) for s in p.scenes} == keys
    assert all("annotations" not in s.frame.inputs for s in p.scenes)
    assert len(replicate_double.inputs(ref)) == len(scenes)
    assert replicate_double.charged_usd == charged
    p.close()
