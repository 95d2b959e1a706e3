"""Word-by-word captions: timings from the voice model or the audio, karaoke / pop-in / boxed
looks drawn by libass where the layout put them (safe area, clear of the logo), Arabic and
emoji in fonts that have them, and an ASS sidecar that keeps each word's time."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import ImageFont

from nbvideo.edit.captions import Cue, cues_from_lines, layout_text
from nbvideo.edit.word_captions import (
    WordCue,
    ass_sidecar,
    burn_in_words,
    cue_words,
    fonts_dir,
)
from nbvideo.media.audio_io import SAMPLE_RATE, write_wav
from nbvideo.media.ffmpeg import ffmpeg_exe
from nbvideo.media.glyphs import FontStack, face_metrics
from nbvideo.model.color import hex_rgb
from nbvideo.model.presets import Rect, SafeArea, get_preset
from nbvideo.model.speech import LineWords, WordTiming
from nbvideo.render.finishing import VOICE_LEAD_S, caption_words, words_path
from nbvideo.store.brands import CaptionStyle, font_file
from tests.brand_helpers import raw_frames

FPS = 30
W, H = 360, 640
BG = "0x336699"
ORANGE = "#f26a21"
STYLE = CaptionStyle(size_pct=4.5, outline_px=2, outline_color="#14261f")


def _scene(sid: str, line: str, start_s: float) -> SimpleNamespace:
    return SimpleNamespace(scene=SimpleNamespace(id=sid, voice_line=line), start_s=start_s)


def _tone_line(spans: list[tuple[float, float]], total_s: float) -> np.ndarray:
    t = np.arange(round(total_s * SAMPLE_RATE)) / SAMPLE_RATE
    x = np.zeros_like(t)
    for s, e in spans:
        m = (t >= s) & (t < e)
        x[m] = 0.3 * np.sin(2 * np.pi * 180 * t[m])
    return (x + np.random.default_rng(3).normal(0, 2e-4, len(t))).astype(np.float32)


# ------------------------------------------------------------------------------- timings
def test_word_times_from_the_voice_model_are_used_as_given(tmp_path: Path) -> None:
    line = "Trail too tough? Not any more."
    wav = write_wav(tmp_path / "s1.wav", _tone_line([(0.1, 1.9)], 2.0))
    given = [WordTiming(word=w, start_s=s, end_s=s + 0.2)
             for w, s in zip(line.split(), (0.05, 0.41, 0.62, 1.03, 1.31, 1.52), strict=True)]
    words_path(wav).write_text(LineWords(text=line, duration_s=2.0, timings="provider",
                                         words=given).model_dump_json())
    entry = _scene("s1", line, 3.0)
    cues = cues_from_lines([(3.0 + VOICE_LEAD_S, 3.0 + VOICE_LEAD_S + 2.0, line)], FPS)
    (wc,) = caption_words([entry], cues, {"s1": (wav, VOICE_LEAD_S, 1.0)})
    assert wc.timings == "provider"
    assert [w.word for w in wc.words] == line.split()
    at = 3.0 + VOICE_LEAD_S
    assert [w.start_frame for w in wc.words] == [round((at + g.start_s) * FPS) for g in given]
    assert [w.end_frame for w in wc.words] == [round((at + g.end_s) * FPS) for g in given]
    # sped up to fit its scene (voice_fit="speed"): the same times, played faster
    (fast,) = caption_words([entry], cues, {"s1": (wav, VOICE_LEAD_S, 1.25)})
    assert [w.start_frame for w in fast.words] == [round((at + g.start_s / 1.25) * FPS)
                                                   for g in given]


def test_word_times_the_voice_model_did_not_give_are_estimated_inside_the_line(
        tmp_path: Path) -> None:
    line = "Waterproof, toe to collar."
    spans = [(0.30, 1.10), (1.45, 1.70), (1.78, 1.92), (2.60, 3.20)]
    wav = write_wav(tmp_path / "s2.wav", _tone_line(spans, 3.5))
    entry = _scene("s2", line, 1.0)
    cue_end = 1.0 + VOICE_LEAD_S + 3.0  # the scene ends before the line does
    cues = cues_from_lines([(1.0 + VOICE_LEAD_S, cue_end, line)], FPS)
    (wc,) = caption_words([entry], cues, {"s2": (wav, VOICE_LEAD_S, 1.0)})
    assert wc.timings == "estimated"
    assert [w.word for w in wc.words] == line.split()
    starts = [w.start_frame for w in wc.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(wc.cue.start_frame <= w.start_frame <= w.end_frame <= wc.cue.end_frame
               for w in wc.words)
    # they follow the audio: "collar." is said from 2.6 s into the line, not on a grid
    at = (1.0 + VOICE_LEAD_S) * FPS
    assert abs(wc.words[3].start_frame - (at + 2.6 * FPS)) <= 3
    assert words_path(wav).is_file()  # worked out once, kept beside the line
    # a model whose words are not the caption's (it rewrote the text) is not trusted
    odd = tmp_path / "s3.wav"
    odd.write_bytes(wav.read_bytes())
    words_path(odd).write_text(LineWords(text=line, duration_s=3.5, timings="provider", words=[
        WordTiming(word="Water", start_s=0.3, end_s=0.6)]).model_dump_json())
    (wc2,) = caption_words([_scene("s3", line, 1.0)], cues, {"s3": (odd, VOICE_LEAD_S, 1.0)})
    assert wc2.timings == "estimated" and len(wc2.words) == 4


def test_a_word_outside_its_cue_is_refused() -> None:
    cue = Cue(start_frame=10, end_frame=40, fps=FPS, text="a b")
    with pytest.raises(ValueError, match="outside its cue"):
        WordCue(cue=cue, words=[{"word": "a", "start_frame": 5, "end_frame": 12}],
                timings="provider")
    late = cue_words(cue, [WordTiming(word="a", start_s=0.1, end_s=0.2),
                           WordTiming(word="b", start_s=5.0, end_s=6.0)], 10 / FPS, "estimated")
    assert late.words[1].start_frame == late.words[1].end_frame == 40  # cut by the scene's end


# ------------------------------------------------------------------------------- drawing
def _cue(text: str, step_s: float = 0.25, start_s: float = 0.5) -> WordCue:
    (cue,) = cues_from_lines([(start_s, start_s + step_s * len(text.split()) + 0.5, text)], FPS)
    words = [WordTiming(word=t, start_s=step_s * i, end_s=step_s * i + 0.2)
             for i, t in enumerate(text.split())]
    return cue_words(cue, words, start_s, "provider")


def _render(burn, tmp_path: Path, seconds: float = 3.0, log: bool = False):
    script = tmp_path / "c.ass"
    script.write_text(burn.script, encoding="utf-8")
    flt = burn.filter_for(script, fonts_dir(burn.fonts, tmp_path))
    return raw_frames(["-f", "lavfi", "-i", f"color=c={BG}:s={W}x{H}:r={FPS}:d={seconds}",
                       "-vf", flt], W, H)


def _near(frame: np.ndarray, colour: str, tol: int = 40) -> np.ndarray:
    return np.abs(frame.astype(int) - np.array(hex_rgb(colour))).max(axis=2) <= tol


def _word_columns(lay, line: str, index: int) -> tuple[int, int]:
    """x range of word `index` of a left-to-right line as the layout measured it."""
    stack = FontStack(ImageFont.truetype(str(lay.font), lay.font_px))
    words = line.split(" ")
    left = lay.center_x - stack.getlength(line) / 2
    a = left + stack.getlength(" ".join(words[:index]) + (" " if index else ""))
    return round(a), round(a + stack.getlength(words[index]))


@pytest.mark.slow
def test_karaoke_colours_the_word_being_said_from_its_first_frame(tmp_path: Path) -> None:
    wc = _cue("Trail too tough? Go")
    burn = burn_in_words([wc], "karaoke", STYLE, W, H, get_preset("tiktok").safe_area,
                         highlight=ORANGE)
    (lay,) = burn.layouts
    assert len(lay.lines) == 1
    frames = _render(burn, tmp_path)
    r = lay.rect
    caption = (slice(r.y, r.bottom), slice(r.x, r.right))
    before = wc.cue.start_frame - 1
    assert _near(frames[before], ORANGE)[caption].sum() == 0  # no caption yet
    for k, w in enumerate(wc.words):
        lit = _near(frames[w.start_frame], ORANGE)
        ys, xs = np.nonzero(lit[caption])
        assert len(xs) > 30, f"word {k} is not highlighted on its first frame"
        a, b = _word_columns(lay, lay.lines[0], k)
        assert a - 3 <= xs.min() + r.x and xs.max() + r.x <= b + 3  # on that word alone
        if k:  # the frame before, the highlight was on the word before, not on this one
            prev = _near(frames[w.start_frame - 1], ORANGE)[r.y:r.bottom, a:b]
            assert prev.sum() == 0
    # between words, the text is in the style's colour
    white = _near(frames[wc.words[2].start_frame], STYLE.color, 30)[caption].sum()
    assert white > 200


@pytest.mark.slow
def test_pop_in_shows_each_word_when_it_is_said_and_boxed_lines_have_their_box(
        tmp_path: Path) -> None:
    sa = get_preset("tiktok").safe_area
    wc = _cue("Built for hikers who never wait for dry weather, ever")
    pop = burn_in_words([wc], "pop-in", STYLE, W, H, sa)
    frames = _render(pop, tmp_path)
    bg = frames[0].astype(int)
    ink = [int((np.abs(frames[w.start_frame].astype(int) - bg).max(axis=2) > 40).sum())
           for w in wc.words]
    assert all(b > a for a, b in zip(ink, ink[1:], strict=False))  # one more word each time
    assert (np.abs(frames[wc.words[0].start_frame - 1].astype(int) - bg) > 40).sum() == 0
    # boxed: a box of the style's colour behind each line, and none without the look
    style = STYLE.model_copy(update={"box_color": "#000000", "box_opacity": 1.0})
    boxed = burn_in_words([wc], "boxed", style, W, H, sa)
    (lay,) = boxed.layouts
    assert len(lay.lines) == 2
    shown = _render(boxed, tmp_path)[wc.words[-1].start_frame]
    black = _near(shown, "#000000", 12)
    for i, y in enumerate(lay.baselines):
        row = black[y - lay.font_px // 2: y + 2]
        cols = np.flatnonzero(row.any(axis=0))
        stack = FontStack(ImageFont.truetype(str(lay.font), lay.font_px))
        assert len(cols) and cols.max() - cols.min() > 0.5 * W * 0.6, f"line {i} has no box"
        # the padding left of the line's first letter, from its top to below its baseline
        left = round(lay.center_x - stack.getlength(lay.lines[i]) / 2) - lay.pad[0] + 2
        top = y - stack.getmetrics()[0] - lay.pad[1]
        assert black[top + 3: y + 3, left].all(), f"line {i}: no box behind it"
    karaoke = _render(burn_in_words([wc], "karaoke", style, W, H, sa),
                      tmp_path)[wc.words[-1].start_frame]
    assert _near(karaoke, "#000000", 12).sum() < black.sum() / 10


@pytest.mark.slow
@pytest.mark.parametrize("corner", ["bottom-left", "bottom-right"])
def test_captions_stay_in_the_safe_area_and_off_the_logo(tmp_path: Path, corner: str) -> None:
    preset = get_preset("tiktok")
    safe = preset.safe_area.rect(W, H)
    # a large logo in a bottom corner of the safe area, where captions sit by default
    lw, lh = 150, 90
    x = safe.x if corner == "bottom-left" else safe.right - lw
    logo = Rect(x=x, y=safe.bottom - lh, w=lw, h=lh)
    wc = _cue("Weekend hikers, meet the shoe that keeps going")
    plain = layout_text(wc.cue.text, STYLE, W, H, preset.safe_area)
    assert plain.rect.intersects(logo)  # without the logo in mind, it would be covered
    for look in ("karaoke", "boxed"):
        burn = burn_in_words([wc], look, STYLE, W, H, preset.safe_area, avoid=logo)
        frames = _render(burn, tmp_path)
        bg = frames[0].astype(int)
        drawn = (np.abs(frames.astype(int) - bg).max(axis=3) > 40).any(axis=0)
        ys, xs = np.nonzero(drawn)
        assert len(xs) > 100
        assert safe.x <= xs.min() and xs.max() < safe.right, (look, xs.min(), xs.max())
        assert safe.y <= ys.min() and ys.max() < safe.bottom, (look, ys.min(), ys.max())
        assert not drawn[logo.y:logo.bottom, logo.x:logo.right].any(), look
        assert not burn.items[0].rect.intersects(logo)


def test_a_layout_clear_of_the_logo_is_unchanged() -> None:
    sa = get_preset("tiktok").safe_area
    text = "Weekend hikers, meet the shoe that keeps going"
    top_right = Rect(x=250, y=100, w=60, h=40)
    assert layout_text(text, STYLE, W, H, sa, avoid=top_right) == layout_text(text, STYLE, W,
                                                                               H, sa)


ARABIC = "تسوق الآن 🛒 Shop now ✨"


def _fonts_in_effect(script: str, fonts: tuple[Path, ...]) -> list[tuple[str, Path]]:
    """(character, font file) for every character an event draws, following \\fn."""
    by_family = {face_metrics(f).family: f for f in fonts}
    style_font = re.search(r"^Style: Caption,([^,]+),", script, re.M).group(1)
    out = []
    for line in script.splitlines():
        if not line.startswith("Dialogue:") or ",Box," in line:
            continue
        text = line.split(",", 9)[9]
        current = by_family[style_font]
        for block, plain in re.findall(r"\{([^}]*)\}|((?:[^{\\]|\\[{}])+)", text):
            if block:
                if m := re.search(r"\\fn([^\\]+)", block):
                    current = by_family[m.group(1)]
            else:
                out += [(ch, current) for ch in plain.replace("\\{", "{").replace("\\}", "}")
                        if not ch.isspace()]
    return out


def test_arabic_and_emoji_are_set_in_fonts_that_have_them() -> None:
    from fontTools.ttLib import TTFont

    burn = burn_in_words([_cue(ARABIC)], "karaoke", STYLE, W, H, get_preset("tiktok").safe_area)
    chars = _fonts_in_effect(burn.script, burn.fonts)
    assert {c for c, _f in chars} >= set(ARABIC.replace(" ", ""))
    cmaps = {f: set(TTFont(str(f), lazy=True).getBestCmap()) for f in burn.fonts}
    missing = [(c, f.name) for c, f in chars if ord(c) not in cmaps[f]]
    assert missing == []
    assert {f.name for f in burn.fonts} >= {"NotoSansArabic.ttf", "NotoEmoji.ttf"}


@pytest.mark.slow
def test_arabic_and_emoji_draw_glyphs_not_tofu(tmp_path: Path) -> None:
    sa = get_preset("tiktok").safe_area
    real = burn_in_words([_cue(ARABIC)], "karaoke", STYLE, W, H, sa)
    # the same caption with every character one that no font has: each drawn as .notdef
    tofu_text = "".join(" " if c == " " else "\ue000" for c in ARABIC)
    tofu = burn_in_words([_cue(tofu_text)], "karaoke", STYLE, W, H, sa, warn=False)
    f = real.layouts[0]
    a = _render(real, tmp_path, 3.0)
    b = _render(tofu, tmp_path, 3.0)
    bg = a[0].astype(int)
    frame = _cue(ARABIC).words[-1].start_frame
    ink_a = np.abs(a[frame].astype(int) - bg).max(axis=2) > 60
    ink_b = np.abs(b[frame].astype(int) - bg).max(axis=2) > 60
    r = f.rect
    assert ink_a[r.y:r.bottom, r.x:r.right].sum() > 300
    overlap = (ink_a & ink_b).sum() / max(1, (ink_a | ink_b).sum())
    assert overlap < 0.35, overlap
    # the Arabic run sits right to left: its first word is drawn to the right of its second
    words = _cue(ARABIC).words
    lit0 = np.nonzero(_near(a[words[0].start_frame], "#ffd21f")[r.y:r.bottom])[1]
    lit1 = np.nonzero(_near(a[words[1].start_frame], "#ffd21f")[r.y:r.bottom])[1]
    assert len(lit0) and len(lit1) and lit0.mean() > lit1.mean()


# ------------------------------------------------------------------------------- sidecar
def _parse_ass(text: str) -> dict[str, list[dict[str, str]]]:
    """A minimal ASS reader: each section's Format-named rows."""
    out: dict[str, list[dict[str, str]]] = {}
    section, fmt = "", []
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            section, fmt = line[1:-1], []
            out[section] = []
        elif line.startswith("Format:"):
            fmt = [f.strip() for f in line[7:].split(",")]
        elif ":" in line and fmt and not line.startswith(";"):
            kind, rest = line.split(":", 1)
            values = rest.strip().split(",", len(fmt) - 1)
            assert len(values) == len(fmt), line
            out[section].append({"kind": kind, **dict(zip(fmt, values, strict=True))})
    return out


def _cs(stamp: str) -> int:
    h, m, s = stamp.split(":")
    return (int(h) * 3600 + int(m) * 60) * 100 + round(float(s) * 100)


@pytest.mark.parametrize("look", ["lines", "karaoke", "pop-in", "boxed"])
def test_the_ass_sidecar_keeps_each_words_time(look: str) -> None:
    cues = [_cue("Trail too tough?", start_s=0.5), _cue("Not any more.", start_s=2.2)]
    cues[1] = cues[1].model_copy(update={"timings": "estimated"})
    preset = get_preset("tiktok")
    doc = _parse_ass(ass_sidecar(cues, look, STYLE, 1080, 1920, highlight=ORANGE,
                                 safe_area=preset.safe_area))
    styles = {s["Name"]: s for s in doc["V4+ Styles"]}
    safe = preset.safe_area.rect(1080, 1920)  # a player keeps it where the platform's UI is not
    assert (int(styles["Caption"]["MarginL"]), int(styles["Caption"]["MarginR"]),
            int(styles["Caption"]["MarginV"])) == (safe.x, 1080 - safe.right, 1920 - safe.bottom)
    assert styles["Caption"]["Fontname"] == "Manrope ExtraBold"
    events = [e for e in doc["Events"] if e["kind"] == "Dialogue"]
    assert [e["Name"] for e in events] == ["provider", "estimated"]
    for wc, ev in zip(cues, events, strict=True):
        start = _cs(ev["Start"])
        assert start == round((wc.cue.start_frame - 0.5) / FPS * 100)
        assert _cs(ev["End"]) == round((wc.cue.end_frame - 0.5) / FPS * 100)
        tags = re.findall(r"\{\\k(\d+)\}([^{]*)", ev["Text"])
        said = [(int(k), w.strip()) for k, w in tags]
        words = [w for _k, w in said if w]
        assert words == wc.cue.text.split()
        at, got = start, []
        for k, w in said:
            if w:
                got.append(at)
            at += k
        assert got == [round((w.start_frame - 0.5) / FPS * 100) for w in wc.words]
        assert at == _cs(ev["End"])  # the last word lasts until the line leaves
    primary, secondary = styles["Caption"]["PrimaryColour"], styles["Caption"]["SecondaryColour"]
    if look == "karaoke":
        assert primary == "&H00216AF2" and secondary == "&H00FFFFFF"
    elif look == "pop-in":
        assert secondary == "&HFFFFFFFF"  # not said yet: not seen
    else:
        assert primary == secondary == "&H00FFFFFF"
    assert styles["Caption"]["BorderStyle"] == ("3" if look == "boxed" else "1")


@pytest.mark.slow
def test_the_bundled_libass_reads_the_sidecar(tmp_path: Path) -> None:
    wc = _cue("Trail too tough?")
    path = tmp_path / "side.ass"
    path.write_text(ass_sidecar([wc], "karaoke", STYLE, W, H, highlight=ORANGE),
                    encoding="utf-8")
    fonts = font_file(STYLE.font).parent
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-f", "lavfi", "-i",
                          f"color=c={BG}:s={W}x{H}:r={FPS}:d=2",
                          "-vf", f"ass=filename={path}:fontsdir={fonts}", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True)
    frames = np.frombuffer(out.stdout, np.uint8).reshape(-1, H, W, 3)
    said = frames[wc.words[-1].start_frame]
    assert _near(said, ORANGE).sum() > 100  # the words said, in the highlight
    assert _near(frames[wc.words[0].start_frame - 1], ORANGE).sum() == 0


# ------------------------------------------------------------------------------- an export
def _frame(video: Path, n: int, w: int, h: int) -> np.ndarray:
    """Frame number `n` of a video, exactly (counted, not sought by time)."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", str(video),
                          "-vf", f"select=eq(n\\,{n})", "-fps_mode", "passthrough",
                          "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(h, w, 3)


@pytest.mark.slow
def test_a_karaoke_export_lights_each_word_as_it_is_said(rendered, tmp_path: Path) -> None:
    import nbvideo as nv

    p = rendered
    p.finish(brand="trailhead", voice="narrator-f", caption_style="lines")
    (lines,) = p.export("lines", formats=["16:9"])
    p.finish(caption_style="karaoke")
    assert p.finish().caption_style == "karaoke"
    (kara,) = p.export("kara", formats=["16:9"])
    a, b = p.path / lines.path, p.path / kara.path
    # the sidecars: SRT/VTT the same line cues whatever the look; the ASS has the words
    assert a.with_suffix(".srt").read_text() == b.with_suffix(".srt").read_text()
    assert a.with_suffix(".vtt").read_text() == b.with_suffix(".vtt").read_text()
    assert kara.path.replace(".mp4", ".ass") in kara.sidecars
    doc = _parse_ass(b.with_suffix(".ass").read_text(encoding="utf-8"))
    first = next(e for e in doc["Events"] if e["kind"] == "Dialogue")
    assert first["Name"] == "estimated"  # espeak-ng gives no timestamps
    fps, w, h = kara.fps, kara.width, kara.height
    at, starts = _cs(first["Start"]), []
    for k, word in re.findall(r"\{\\k(\d+)\}([^{]*)", first["Text"]):
        if word.strip():
            starts.append(round(at / 100 * fps + 0.5))
        at += int(k)
    kit = nv.load_brand("trailhead")
    said = re.sub(r"\{[^}]*\}", "", first["Text"]).strip()
    lay = layout_text(said, kit.caption_style, w, h, SafeArea(), base=kit.base_dir)
    r = lay.rect
    box = (slice(r.y, r.bottom), slice(r.x, r.right))

    def lit(n: int) -> np.ndarray:  # orange in the karaoke export, not in the lines one
        return (_near(_frame(b, n, w, h), kit.accent, 45)
                & ~_near(_frame(a, n, w, h), kit.accent, 45))[box]

    assert lit(starts[0] - 1).sum() < 10  # before the first word is said: nothing lit
    centres = []
    for n in starts[:2]:
        on = lit(n)
        assert on.sum() > 40, f"no word lit on frame {n}"
        centres.append(np.nonzero(on)[1].mean())
    if len(lay.lines[0].split()) > 1:  # the second word is right of the first on its line
        assert centres[1] > centres[0] + 5
    # the rest of the picture is the lines export's, caption outside its box untouched
    fa, fb = _frame(a, starts[0], w, h).astype(int), _frame(b, starts[0], w, h).astype(int)
    outside = np.ones((h, w), bool)
    outside[max(0, r.y - 4):r.bottom + 4, max(0, r.x - 6):r.right + 6] = False
    assert np.abs(fa - fb).max(axis=2)[outside].mean() < 1.0


def test_the_caption_style_is_a_finishing_setting_that_old_projects_default(fresh) -> None:
    from nbvideo.errors import InvalidInput
    from nbvideo.model.state import Finishing

    assert Finishing.model_validate({"captions": True}).caption_style == "lines"
    assert fresh.finish(caption_style="pop-in").caption_style == "pop-in"
    with pytest.raises(InvalidInput, match="caption_style") as err:
        fresh.finish(caption_style="wobble")
    assert "karaoke" in str(err.value)
    assert fresh.finish().caption_style == "pop-in"  # the refused setting changed nothing
