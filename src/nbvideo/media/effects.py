"""Per-item effects (model/effects.py) as ffmpeg filters: one builder for every path that
draws an item, so a full export, a mezzanine (smart export) and an overlay item get the
same pixels, and one for the item's own sound.

A scene's chain is: the kept source window at the film's fps, fitted to the frame (`crop`
centres on the effects' focus point for this aspect), then the time effects (reverse,
speed or ramp with `setpts`, back to a constant rate with `fps`, freeze by stamping the
frames after the held one later and letting `fps` fill the gap with copies of it, cut to
exactly `Effects.frames` frames), then the picture effects (Ken Burns with `zoompan`, a
look, `lut3d`, `gblur`, `vignette`). Fitting first is equivalent for every per-frame step
and keeps `reverse`'s buffer at the output size.

The speed ramp is exact: `setpts` maps each source instant T to the integral of 1/speed
up to T (a closed form per linear stretch: L/(vb-va) * ln(1 + (vb-va)(T-a)/(va L))), so a
frame lands where `Effects.time_at` says and the clip lasts `Effects.frames` frames.

Sound keeps its pitch: `atempo` (WSOLA) for a constant speed; a ramp is played as short
stretches, each at its own constant tempo, cut to the samples the ramp gives it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from nbvideo.errors import InvalidInput, MediaMissing
from nbvideo.model.effects import LOOKS, Effects, Focus

__all__ = ["LOOK_FILTERS", "check_cube", "crop_filter", "effect_sound", "focus_for",
           "picture_filters", "ramp_expr", "tempo_filters", "time_filters"]

LOOK_FILTERS: dict[str, str] = {
    "warm": "colorbalance=rs=0.08:gs=0.02:bs=-0.08:rm=0.06:gm=0.01:bm=-0.06:rh=0.04:bh=-0.04",
    "cool": "colorbalance=rs=-0.08:bs=0.08:rm=-0.06:bm=0.06:rh=-0.04:bh=0.04",
    "mono": "hue=s=0",
    "vintage": "curves=preset=vintage,eq=saturation=0.85",
    "punchy": "eq=contrast=1.15:saturation=1.35",
    "teal-orange": "colorbalance=rs=-0.1:gs=0.02:bs=0.1:rh=0.1:gh=0.02:bh=-0.1",
}
assert set(LOOK_FILTERS) == set(LOOKS)
_LEVEL1 = re.compile(r"([\\':])")
_LEVEL2 = re.compile(r"([\\'\[\],;])")
_ASPECT_TOLERANCE = 0.01
SOUND_CHUNK_S = 0.25  # a ramp's sound is played in stretches of about this much source


def _esc(v: object) -> str:
    """A value escaped for `filter=key=VALUE` inside a filtergraph (both parser levels)."""
    return _LEVEL2.sub(r"\\\1", _LEVEL1.sub(r"\\\1", str(v)))


def _n(x: float) -> str:
    return f"{x:.9g}"


def check_cube(path: Path, field: str) -> int:
    """The LUT's size (points per side) after checking the file is a 3D .cube LUT ffmpeg's
    lut3d reads; a missing or malformed file is refused naming `field`."""
    if not path.is_file():
        raise MediaMissing(f"{field}: LUT file {path.name!r} is not in the project "
                           "(give a .cube file inside the project folder)")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError):
        raise InvalidInput(f"{field}: {path.name!r} is not a .cube LUT (not a text file)") from None
    size, rows = 0, 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head = line.split()[0].upper()
        if head == "LUT_3D_SIZE":
            try:
                size = int(line.split()[1])
            except (IndexError, ValueError):
                size = -1
        elif head == "LUT_1D_SIZE":
            raise InvalidInput(f"{field}: {path.name!r} is a 1D LUT; lut3d needs a 3D .cube "
                               "LUT (LUT_3D_SIZE)")
        elif head[0].isdigit() or head[0] in "-.+":
            parts = line.split()
            if len(parts) != 3 or not all(_is_float(p) for p in parts):
                raise InvalidInput(f"{field}: {path.name!r} is not a .cube LUT (a data row "
                                   f"is not three numbers: {line[:40]!r})")
            rows += 1
    if not 2 <= size <= 256:
        raise InvalidInput(f"{field}: {path.name!r} is not a .cube LUT (no LUT_3D_SIZE from 2 "
                           "to 256 line)")
    if rows != size ** 3:
        raise InvalidInput(f"{field}: {path.name!r} has {rows} data rows; a LUT_3D_SIZE of "
                           f"{size} needs {size ** 3}")
    return size


def _is_float(s: str) -> bool:
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def focus_for(fx: Effects, size: tuple[int, int]) -> Focus | None:
    """The focus point set for the aspect of a frame of `size`, if any."""
    w, h = size
    for aspect, focus in fx.focus.items():
        a, b = (int(x) for x in aspect.split(":"))
        if abs(w * b / (h * a) - 1) < _ASPECT_TOLERANCE:
            return focus
    return None


def crop_filter(size: tuple[int, int], focus: Focus | None) -> str:
    """Scale to cover the frame and crop it, centred on `focus` (the middle by default),
    the crop kept inside the picture."""
    w, h = size
    head = f"scale={w}:{h}:force_original_aspect_ratio=increase"
    if focus is None or (focus.x, focus.y) == (0.5, 0.5):
        return f"{head},crop={w}:{h}"
    return (f"{head},crop={w}:{h}:x='clip({_n(focus.x)}*iw-ow/2,0,iw-ow)'"
            f":y='clip({_n(focus.y)}*ih-oh/2,0,ih-oh)'")


def ramp_expr(fx: Effects, source_s: float) -> str:
    """The played time (seconds) of source time T as an ffmpeg expression (see module)."""
    segs = fx.segments(source_s)
    expr = _n(fx.speed_s(source_s))
    for a, length, va, vb, t in reversed(segs):
        d = f"(T-{_n(a)})"
        if abs(vb - va) < 1e-12:
            seg = f"({_n(t)}+{d}/{_n(va)})"
        else:
            k = (vb - va) / (va * length)
            seg = f"({_n(t)}+{_n(length / (vb - va))}*log(1+{_n(k)}*{d}))"
        expr = f"if(lt(T,{_n(a + length)}),{seg},{expr})"
    return expr


def time_filters(fx: Effects, source_s: float, fps: int) -> list[str]:
    """Filters from the kept source window (frames at `fps`, stamped from 0) to exactly
    `fx.frames(source_s, fps)` frames stamped 0.. in 1/fps: reverse, speed, freeze."""
    out: list[str] = []
    if fx.reverse:
        out.append("reverse")
    if fx.ramp:
        out += [f"setpts='({ramp_expr(fx, source_s)})/TB'", f"fps={fps}"]
    elif fx.speed != 1.0:
        out += [f"setpts=PTS/{_n(fx.speed)}", f"fps={fps}"]
    n = fx.frames(source_s, fps)
    if fx.freeze is not None:
        f = fx.freeze_frame(source_s, fps)
        # Frames after the held one move `hold` frames later; `fps` fills the gap with
        # copies of the held frame (exact on whole-frame stamps).
        out += [f"settb=1/{fps}", "setpts=N",
                f"trim=end_frame={fx.speed_frames(source_s, fps)}",
                f"setpts='if(gt(N,{f}),N+{fx.hold_frames(fps)},N)'", f"fps={fps}"]
    out += ["tpad=stop_mode=clone:stop=-1", f"trim=end_frame={n}", f"settb=1/{fps}", "setpts=N"]
    return out


def picture_filters(fx: Effects, size: tuple[int, int], fps: int, frames: int,
                    lut: Path | None) -> list[str]:
    """Filters on the fitted frame: Ken Burns, look, LUT, blur, vignette (none: [])."""
    w, h = size
    out: list[str] = []
    kb = fx.ken_burns
    if kb is not None:
        u = f"(on/{max(1, frames - 1)})"
        if kb.easing == "ease-in-out":
            u = f"({u}*{u}*(3-2*{u}))"

        def lerp(a: float, b: float) -> str:
            return _n(a) if a == b else f"({_n(a)}+{_n(b - a)}*{u})"

        cx, cy = lerp(kb.start_x, kb.end_x), lerp(kb.start_y, kb.end_y)
        out += [f"zoompan=z='{lerp(kb.start_zoom, kb.end_zoom)}'"
                f":x='clip({cx}*iw-iw/zoom/2,0,iw-iw/zoom)'"
                f":y='clip({cy}*ih-ih/zoom/2,0,ih-ih/zoom)':d=1:s={w}x{h}:fps={fps}",
                f"settb=1/{fps}", "setpts=N"]
    if fx.look is not None:
        out.append(LOOK_FILTERS[fx.look])
    if lut is not None:
        out.append(f"lut3d=file={_esc(lut.resolve())}:interp=tetrahedral")
    if fx.blur > 0:
        sigma = fx.blur * min(w, h) / 1080
        if sigma >= 0.05:
            out.append(f"gblur=sigma={sigma:.3f}")
    if fx.vignette > 0:
        out.append(f"vignette=angle={fx.vignette * math.pi / 2:.4f}")
    return out


# ---------------------------------------------------------------------- sound
def tempo_filters(tempo: float) -> str:
    """atempo for any tempo from 0.25 (one instance takes 0.5 to 100)."""
    parts = []
    while tempo < 0.5 - 1e-12:
        parts.append("atempo=0.5")
        tempo /= 0.5
    if abs(tempo - 1.0) > 1e-9 or not parts:
        parts.append(f"atempo={tempo:.6f}")
    return ",".join(parts)


def effect_sound(src: Path, out: Path, start_s: float, source_s: float, fx: Effects, fps: int,
                 rate: int = 48_000) -> Path:
    """The item's own sound as the effects play it, as a mono WAV of exactly its frames'
    length: the window [start_s, start_s + source_s) of `src`, reversed, at the speed or
    ramp with the pitch kept, silent while a frame is frozen."""
    from nbvideo.media.audio_io import read_wav, write_wav
    from nbvideo.media.ffmpeg import run_ffmpeg

    speed_s = fx.speed_frames(source_s, fps) / fps
    src_n = round(source_s * rate)
    chunks: list[tuple[int, int, int]] = []  # (first source sample, last, samples out)
    if fx.ramp:
        m = max(1, round(source_s / SOUND_CHUNK_S))
        edges = [source_s * k / m for k in range(m + 1)]
        times = [fx.time_at(s, source_s) * speed_s / fx.speed_s(source_s) for s in edges]
        for k in range(m):
            chunks.append((round(edges[k] * rate), round(edges[k + 1] * rate),
                           round(times[k + 1] * rate) - round(times[k] * rate)))
    else:
        chunks.append((0, src_n, round(speed_s * rate)))
    head = f"[0:a:0]aformat=sample_fmts=flt:sample_rates={rate}:channel_layouts=mono," \
           f"apad,atrim=end_sample={src_n}" + (",areverse" if fx.reverse else "")
    lines = [head + (f",asplit={len(chunks)}" + "".join(f"[c{k}]" for k in range(len(chunks)))
                     if len(chunks) > 1 else "[c0]")]
    for k, (a, b, n) in enumerate(chunks):
        tempo = (b - a) / n if n else 1.0
        lines.append(f"[c{k}]atrim=start_sample={a}:end_sample={b},asetpts=PTS-STARTPTS,"
                     f"{tempo_filters(tempo)},apad,atrim=end_sample={n}[o{k}]")
    if len(chunks) > 1:
        lines.append("".join(f"[o{k}]" for k in range(len(chunks)))
                     + f"concat=n={len(chunks)}:v=0:a=1[out]")
    else:
        lines.append("[o0]anull[out]")
    tmp = out.with_name(out.name + ".speed.wav")
    out.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(["-ss", f"{start_s:.6f}", "-t", f"{source_s + 0.1:.6f}", "-i", str(src),
                "-filter_complex", ";".join(lines), "-map", "[out]", "-c:a", "pcm_f32le",
                "-f", "wav", str(tmp)], total_s=None)
    samples, _rate = read_wav(tmp)
    tmp.unlink(missing_ok=True)
    x = samples[:, 0].astype(np.float64) if samples.ndim == 2 else samples.astype(np.float64)
    want = round(speed_s * rate)
    x = np.concatenate([x[:want], np.zeros(max(0, want - len(x)))])
    if fx.freeze is not None:
        at = round(fx.freeze_frame(source_s, fps) / fps * rate)
        x = np.concatenate([x[:at], np.zeros(round(fx.hold_frames(fps) / fps * rate)), x[at:]])
    total = round(fx.frames(source_s, fps) / fps * rate)
    x = np.concatenate([x[:total], np.zeros(max(0, total - len(x)))])
    return write_wav(out, x, rate)
