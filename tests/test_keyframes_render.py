"""Keyframes and text animations as a viewer sees them, probed in the pixels: at each
keyframe's frame an overlay has the keyframe's position, size, rotation and opacity (within
a pixel or a level), an item lands on its pixel even where that pixel is odd, a typewriter
shows k characters' worth of ink from its k-th character's frame, word by word shows each
word from its word's frame, and a pop ends at full size, in a real export.

The exact checks run the overlay graph the export uses (`render.overlay_items.items_graph`)
over a black film and read it back losslessly; the export test runs the whole pipeline."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import nbvideo as nv
from nbvideo.edit.text_animation import reveal_frames, units
from nbvideo.media.ffmpeg import ffmpeg_exe
from nbvideo.model.tracks import ImageItem, Keyframe, TextAnimation, TextItem, Track
from nbvideo.render.overlay_items import items_graph, reveal_image, reveals, text_image

pytestmark = pytest.mark.slow

W, H, FPS = 640, 360, 12
FONT = Path(nv.__file__).parent / "data" / "fonts" / "Manrope-ExtraBold.ttf"


def render(items: list, seconds: float, tmp: Path) -> list[np.ndarray]:
    """The items over a black film through the export's overlay graph, as RGB frames
    (lossless: the graph's yuv420p read back with the matrix it was drawn in)."""
    def text_png(item: TextItem) -> Path:
        draw = reveal_image if reveals(item) else text_image
        f = tmp / f"text-{item.id}.png"
        f.write_bytes(draw(item, FONT, item.color or "#ffffff", None, (W, H)))
        return f

    tracks = {f"V{n + 2}": Track(kind="overlay", items={it.id: it}) for n, it in enumerate(items)}
    g = items_graph(tracks, (W, H), FPS, seconds, resolve=lambda rel: tmp / rel,
                    text_png=text_png)
    assert g is not None
    n = round(seconds * FPS)
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
           f"color=c=black:s={W}x{H}:r={FPS}:d={seconds}", "-filter_complex",
           f"[0:v]format=yuv420p,settb=1/{FPS},setpts=N[vin];{g.graph};"
           "[vout]scale=in_color_matrix=bt709:in_range=tv:out_range=pc,format=rgb24[o]",
           "-map", "[o]", "-frames:v", str(n), "-f", "rawvideo", "pipe:"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return list(np.frombuffer(raw, np.uint8).reshape(n, H, W, 3).astype(float))


def box(frame: np.ndarray, region: tuple[float, float, float, float] = (0, 1, 0, 1),
        level: float = 128) -> tuple[float, float, int, int]:
    """(centre x, centre y, width, height) in pixels of the frame of what is brighter than
    `level` in `region` (x0, x1, y0, y1 as fractions of the frame). The items here are
    white: luma only, which yuv420 keeps per pixel (a colour's edge is shared by two)."""
    h, w = frame.shape[:2]
    x0, x1, y0, y1 = round(region[0] * w), round(region[1] * w), round(region[2] * h), \
        round(region[3] * h)
    ys, xs = np.nonzero(frame[y0:y1, x0:x1].mean(axis=2) > level)
    assert len(xs), "nothing drawn"
    return ((x0 + xs.min() + x0 + xs.max() + 1) / 2, (y0 + ys.min() + y0 + ys.max() + 1) / 2,
            int(xs.max() + 1 - xs.min()), int(ys.max() + 1 - ys.min()))


def solid(tmp: Path, name: str, rgb: tuple[int, int, int], size: tuple[int, int]) -> str:
    Image.new("RGBA", size, (*rgb, 255)).save(tmp / name)
    return name


def kf(*pts: tuple) -> list[Keyframe]:
    return [Keyframe(t_s=p[0], value=p[1], easing=p[2] if len(p) > 2 else "linear")
            for p in pts]


def test_at_each_keyframe_an_overlay_has_the_keyframes_position_size_angle_and_opacity(
        tmp_path: Path) -> None:
    white = (255, 255, 255)
    mover = ImageItem(id="i00000001", path=solid(tmp_path, "a.png", white, (42, 42)),
                      start_s=0.5, duration_s=2.5, y=0.25, width=42 / W,
                      keyframes={"x": kf((0, 0.2, "ease-in"), (1.0, 0.6, "hold"), (2.0, 0.4))})
    grower = ImageItem(id="i00000002", path=solid(tmp_path, "b.png", white, (40, 40)),
                       start_s=0.5, duration_s=2.5, x=0.5, y=0.7, width=40 / W,
                       keyframes={"scale": kf((0, 0.5, "ease-out"), (1.0, 2.0), (1.5, 1.0))})
    fader = ImageItem(id="i00000003", path=solid(tmp_path, "c.png", white, (40, 40)),
                      start_s=0.5, duration_s=2.5, x=0.85, y=0.25, width=40 / W,
                      keyframes={"opacity": kf((0, 0.0), (1.0, 1.0), (1.5, 0.25, "hold"),
                                               (2.0, 0.75))})
    bar = ImageItem(id="i00000004", path=solid(tmp_path, "d.png", white, (60, 20)),
                    start_s=0.5, duration_s=2.5, x=0.85, y=0.7, width=60 / W,
                    keyframes={"rotation": kf((0, 0.0), (1.0, 90.0))})
    fr = render([mover, grower, fader, bar], 3.5, tmp_path)
    at = {t: 6 + round(t * FPS) for t in (0, 0.5, 1.0, 1.5, 1.75, 2.0)}  # items start: frame 6
    top, bottom_mid, right_bottom = (0, 0.75, 0, 0.5), (0.3, 0.7, 0.5, 1), (0.75, 1, 0.5, 1)

    # x: 0.2 -> 0.6 easing in (u^2: a quarter of the way at half time), held, then 0.4;
    # 42 px wide, so its left edge at 0.2 W is 107, an odd pixel
    assert box(fr[at[0]], top) == (0.2 * W, 0.25 * H, 42, 42)
    assert box(fr[at[0.5]], top)[0] == pytest.approx((0.2 + 0.4 * 0.25) * W, abs=1)
    assert box(fr[at[1.0]], top)[0] == 0.6 * W
    assert box(fr[at[1.5]], top)[0] == 0.6 * W  # "hold": there until the next keyframe
    assert box(fr[at[2.0]], top)[0] == 0.4 * W
    assert not (fr[at[0] - 1].mean(axis=2) > 128).any()  # nothing before the items start

    # scale: 0.5 -> 2 -> 1 of 40 px, about a fixed centre
    for t, s in ((0, 0.5), (1.0, 2.0), (1.5, 1.0)):
        cx, cy, w, h = box(fr[at[t]], bottom_mid)
        assert (w, h) == (pytest.approx(40 * s, abs=1), pytest.approx(40 * s, abs=1)), t
        assert (cx, cy) == (pytest.approx(0.5 * W, abs=0.5), pytest.approx(0.7 * H, abs=0.5))

    # opacity: the level is the keyframe's share of full white, within a level
    cx, cy = round(0.85 * W), round(0.25 * H)

    def level(n: int) -> float:
        return float(fr[n][cy - 5:cy + 5, cx - 5:cx + 5].mean())

    full = level(at[1.0])
    assert full > 250
    for t, a in ((0, 0.0), (1.0, 1.0), (1.5, 0.25), (1.75, 0.25), (2.0, 0.75)):
        assert level(at[t]) == pytest.approx(a * full, abs=1.5), t

    # rotation: the 60 x 20 bar stands upright at 90 degrees
    assert box(fr[at[0]], right_bottom, 200)[2:] == (60, 20)
    assert box(fr[at[1.0]], right_bottom, 200)[2:] == (pytest.approx(20, abs=1),
                                                       pytest.approx(60, abs=1))


def _ink(frame: np.ndarray) -> np.ndarray:
    return frame.mean(axis=2) > 128


def _alone(text: str, px: int) -> int:
    """Ink pixels of `text` set alone by Pillow in the same font and size."""
    font = ImageFont.truetype(str(FONT), px)
    img = Image.new("L", (W, H))
    ImageDraw.Draw(img).text((20, H // 2), text, font=font, fill=255, anchor="ls")
    return int((np.asarray(img) > 128).sum())


def test_typewriter_shows_k_characters_of_ink_from_the_kth_characters_frame(
        tmp_path: Path) -> None:
    text = "Type me out"
    item = TextItem(id="i00000005", text=text, start_s=0.5, duration_s=2.5, size=0.15,
                    color="#ffffff", animation=TextAnimation(kind="typewriter", in_s=1.5))
    fr = render([item], 3.5, tmp_path)
    ink = [int(_ink(f).sum()) for f in fr]
    chars = units(text, "typewriter")
    starts = [6 + f for f in reveal_frames(len(chars), 18)]  # 11 characters over 18 frames
    assert ink[:6] == [0] * 6  # nothing before the item
    px = round(0.15 * H)
    for k in range(1, len(chars) + 1):
        first = starts[k - 1]
        last = starts[k] - 1 if k < len(chars) else 6 + 29
        prefix = text[:k]
        want = _alone(prefix, px)
        for n in (first, last):  # k characters from the k-th's frame to the next one's
            assert ink[n] == pytest.approx(want, rel=0.04, abs=12), (k, n, prefix)
        if k > 1 and chars[k - 1] != " ":  # a letter adds ink on its frame, not before
            assert ink[first] > ink[first - 1]
    assert ink[6 + 30] == 0  # gone at the item's end


def test_word_by_word_shows_each_word_from_its_word_time_left_to_right(
        tmp_path: Path) -> None:
    text = "Buy one now"
    item = TextItem(id="i00000006", text=text, start_s=0.0, duration_s=2.0, size=0.15,
                    color="#ffffff", animation=TextAnimation(kind="words", in_s=0.75))
    fr = render([item], 2.0, tmp_path)
    starts = reveal_frames(3, 9)  # frames 0, 3, 6
    assert starts == [0, 3, 6]
    ink = [_ink(f) for f in fr]
    seen: np.ndarray | None = None
    for k, f in enumerate(starts):
        before = ink[f - 1] if f else np.zeros_like(ink[0])
        new = ink[f] & ~before  # what this word's frame adds
        cols = np.nonzero(new.any(axis=0))[0]
        assert len(cols) > 50, k
        if seen is not None:
            assert cols.min() > seen.max()  # each word right of the one before
        seen = cols
        # the same picture until the next word
        end = starts[k + 1] if k + 1 < len(starts) else 12
        assert all((ink[n] == ink[f]).all() for n in range(f, end)), k
    px = round(0.15 * H)
    assert int(ink[6].sum()) == pytest.approx(_alone(text, px), rel=0.04)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """The schema-4 fixture project with a black image over its film, a popping text (left),
    the same text standing still (right) and a typewriter (top), exported once."""
    tmp = tmp_path_factory.mktemp("anim")
    shutil.copytree(Path(__file__).parent / "fixtures" / "project_v4", tmp / "shoe")
    p = nv.Project.open(tmp / "shoe")
    Image.new("RGBA", (64, 36), (0, 0, 0, 255)).save(p.path / "assets" / "black.png")
    tl = p.timeline
    tl.add_image("assets/black.png", 0.0, width=1.0)  # a clean film under the text
    look = {"size": 0.15, "box": "#ffffff", "color": "#ffffff"}
    pop = tl.add_text("POP", 1.0, 2.0, x=0.3, y=0.6, track="V3",
                      animation={"kind": "pop", "in_s": 0.5}, **look)
    tl.add_text("POP", 1.0, 2.0, x=0.7, y=0.6, track="V4", **look)
    typed = tl.add_text("Hi you", 3.5, 2.0, x=0.5, y=0.15, size=0.1, color="#ffffff",
                        track="V5", animation="typewriter")
    rec = p.export("anim", formats=["16:9"], smart=False)[0]
    with av.open(str(p.path / rec.path)) as c:
        # int16: exact and signed for differences, a quarter of float64's memory for the
        # module's lifetime
        frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]
    yield p, frames, pop, typed
    p.close()


LEFT, RIGHT, TOP = (0, 0.5, 0.34, 1), (0.5, 1, 0.34, 1), (0, 1, 0, 0.33)


def test_a_pop_ends_at_full_size_in_the_export(exported) -> None:
    p, fr, pop, _typed = exported
    start = round(1.0 * FPS)
    full = box(fr[start + 12], RIGHT)  # the same text, standing still
    for n in (start + 6, start + 20):  # at the end of its way in (0.5 s), and after
        got = box(fr[n], LEFT)
        assert got[2:] == (pytest.approx(full[2], abs=1), pytest.approx(full[3], abs=1)), n
        assert got[:2] == (pytest.approx(0.3 * fr[0].shape[1], abs=1),
                           pytest.approx(0.6 * fr[0].shape[0], abs=1))
    # at its middle keyframe it is 112% of that size; at its first it is not seen (opacity 0)
    (mid,) = [k for k in p.timeline.item(pop.id).keyframes["scale"] if k.value > 1]
    grown = box(fr[start + round(mid.t_s * FPS)], LEFT, 60)
    assert grown[2] == pytest.approx(full[2] * 1.12, abs=2)
    h, w = fr[0].shape[:2]
    assert not (fr[start][round(0.34 * h):, : w // 2].mean(axis=2) > 60).any()


def test_a_typewriter_in_the_export_reveals_its_letters_on_their_frames(exported) -> None:
    p, fr, _pop, typed = exported
    h = fr[0].shape[0]
    top = [int((f[: round(0.33 * h)].mean(axis=2) > 128).sum()) for f in fr]
    start = round(3.5 * FPS)
    item = p.timeline.item(typed.id)
    # "Hi you": 6 characters at the default 0.06 s each, on whole frames (0.333 s: 4)
    assert item.animation.in_s == pytest.approx(4 / FPS)
    assert reveal_frames(6, 4) == [0, 0, 1, 2, 2, 3]  # H+i, the space, y+o, u
    assert top[start - 1] == 0
    steps = [top[start + n] for n in range(5)]
    assert 0 < steps[0] < steps[2] < steps[3] and steps[3] == pytest.approx(steps[4], abs=20)
    assert steps[1] == pytest.approx(steps[0], abs=20)  # the space adds no ink
