"""Automatic clip QA: every clip is checked as it arrives, before anyone cuts it in.

One ffmpeg pass over a small copy of the picture (160 px wide: enough for black and frozen
frames, cheap next to making the clip) decodes the file end to end and runs blackdetect and
freezedetect; `-progress` reports how many frames really decoded. The container's own
facts (duration, size, audio) come from the probe. What each check allows:

- decodes: ffmpeg reads every frame without error, and the decoded length matches the
  container's (a truncated download fails here, or on the probe);
- duration: within max(0.25 s, 5%) of what the model was asked to make;
- size: the aspect within 1.5% of the request and the short side at least 95% of it;
- black: no black stretch of BLACK_MIN_S or longer;
- frozen: no frozen stretch of max(FROZEN_MIN_S, 25% of the clip) or longer;
- motion: frozen for less than 95% of the clip (a still is not a video);
- audio: an audio stream where the model promises sound.
A camera-less animatic ("static" on the offline model) is a still by design: its frozen and
motion checks are skipped, and say so.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import imageio_ffmpeg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbvideo.errors import from_validation
from nbvideo.media.ffmpeg import probe
from nbvideo.model.state import ProjectState, QACheck, QAPolicy, QAResult
from nbvideo.runtime.context import Runtime

if TYPE_CHECKING:
    import pandas as pd

BLACK_MIN_S = 0.5
FROZEN_MIN_S = 1.0
MOTION_MAX_FROZEN = 0.95
SIZE_TOLERANCE = 0.015
_TIMEOUT_S = 600

_BLACK = re.compile(r"black_start:\s*([\d.]+)\s+black_end:\s*([\d.]+)")
_FREEZE_START = re.compile(r"freeze_start:\s*([\d.]+)")
_FREEZE_END = re.compile(r"freeze_end:\s*([\d.]+)")
_FRAMES = re.compile(r"^frame=(\d+)$", re.M)


class Expectation(BaseModel):
    """What the clip was asked to be."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    duration_s: float = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    audio: bool = False
    motion: bool = True


def _decode(path: Path, duration_s: float) -> tuple[int, str, float, list[tuple[float, float]],
                                                        list[tuple[float, float]]]:
    """(frames decoded, error text, end of decodable video, black spans, frozen spans)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats",
           "-v", "info", "-xerror", "-i", str(path), "-map", "0:v:0", "-an",
           "-vf", f"scale=160:-2,blackdetect=d={BLACK_MIN_S}:pix_th=0.10,"
                  f"freezedetect=n=0.001:d={min(FROZEN_MIN_S, duration_s / 4):.3f}",
           "-progress", "pipe:1", "-f", "null", "-"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S,
                             errors="replace")
    except subprocess.TimeoutExpired:
        return 0, f"decoding took over {_TIMEOUT_S} s", 0.0, [], []
    log = run.stderr
    frames = [int(m) for m in _FRAMES.findall(run.stdout)]
    errors = [ln.strip() for ln in log.splitlines()
              if re.search(r"error|invalid|corrupt|truncat|partial file|moov atom", ln, re.I)
              and "blackdetect" not in ln and "freezedetect" not in ln]
    error = "" if run.returncode == 0 and not errors else (
        errors[0] if errors else f"ffmpeg exited with {run.returncode}")
    black = [(float(a), float(b)) for a, b in _BLACK.findall(log)]
    starts = [float(x) for x in _FREEZE_START.findall(log)]
    ends = [float(x) for x in _FREEZE_END.findall(log)]
    frozen = [(s, ends[i] if i < len(ends) else duration_s) for i, s in enumerate(starts)]
    out_time = re.findall(r"^out_time_us=(\d+)$", run.stdout, re.M)
    decoded_s = int(out_time[-1]) / 1e6 if out_time else 0.0
    return (frames[-1] if frames else 0), error, decoded_s, black, frozen


def inspect_clip(path: Path, want: Expectation) -> QAResult:
    """Run every check on one clip file; never raises for a bad file (that is a result)."""
    checks: list[QACheck] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append(QACheck(name=name, passed=passed, detail=detail))

    try:
        info = probe(Path(path), count_frames=False)
    except Exception as exc:  # unreadable container: nothing else can be checked
        check("decodes", False, f"cannot be read: {str(exc).splitlines()[0][:160]}")
        return QAResult.of(checks, {})
    frames, error, decoded_s, black, frozen = _decode(Path(path), info.duration_s)
    expected_frames = info.duration_s * (info.fps or 1)
    short = decoded_s < info.duration_s - max(0.25, 0.05 * info.duration_s)
    check("decodes", not error and not short and frames > 0,
          error[:160] if error else
          f"only {decoded_s:.2f} s of {info.duration_s:.2f} s decodes" if short else
          f"{frames} frames decode")
    tol = max(0.25, 0.05 * want.duration_s)
    check("duration", abs(info.duration_s - want.duration_s) <= tol,
          f"{info.duration_s:.2f} s for {want.duration_s:.2f} s asked (± {tol:.2f} s)")
    asked, got = want.width / want.height, info.width / max(1, info.height)
    short_side = min(info.width, info.height) / min(want.width, want.height)
    check("size", abs(got / asked - 1) <= SIZE_TOLERANCE and short_side >= 0.95,
          f"{info.width}x{info.height} for {want.width}x{want.height} asked")
    longest_black = max((b - a for a, b in black), default=0.0)
    check("black", longest_black < BLACK_MIN_S,
          f"black from {black[0][0]:.2f} s for {longest_black:.2f} s" if black
          else "no black stretch")
    frozen_s = sum(b - a for a, b in frozen)
    longest_frozen = max((b - a for a, b in frozen), default=0.0)
    limit = max(FROZEN_MIN_S, 0.25 * info.duration_s)
    if want.motion:
        check("frozen", longest_frozen < limit,
              f"frozen from {frozen[0][0]:.2f} s for {longest_frozen:.2f} s (limit "
              f"{limit:.2f} s)" if frozen else "no frozen stretch")
        check("motion", frozen_s < MOTION_MAX_FROZEN * info.duration_s,
              "no motion: a still image" if frozen_s >= MOTION_MAX_FROZEN * info.duration_s
              else f"moving for {info.duration_s - frozen_s:.2f} s")
    else:
        check("motion", True, "a still shot by request: frozen and motion not checked")
    if want.audio:
        check("audio", info.has_audio, "audio present" if info.has_audio
              else "no audio stream, though this model makes sound")
    metrics = {"duration_s": info.duration_s, "width": float(info.width),
               "height": float(info.height), "frames_decoded": float(frames),
               "frames_expected": round(expected_frames, 2), "black_s": round(longest_black, 3),
               "frozen_s": round(frozen_s, 3), "audio": float(info.has_audio)}
    return QAResult.of(checks, metrics)


def qa_table(state: ProjectState) -> pd.DataFrame:
    """Every clip take checked so far: passed, the problems found, and the measurements."""
    import pandas as pd

    rows = []
    for n, s in enumerate(state.scenes, 1):
        for t in s.clip_takes:
            if t.qa is None:
                continue
            rows.append({"scene": n, "scene_id": s.id, "take": t.id,
                         "current": t.id == s.clip_take_id, "provider": t.provider,
                         "model": t.model, "passed": t.qa.passed,
                         "problems": "; ".join(t.qa.problems), **t.qa.metrics,
                         "checked_at": t.qa.checked_at})
    cols = ["scene", "scene_id", "take", "current", "provider", "model", "passed", "problems"]
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*cols, *(k for r in rows for k in r)])))


def set_policy(rt: Runtime, mode: str, retries: int | None) -> QAPolicy:
    """Change what a clip failing QA does, checked whole, and save it."""
    with rt.guard:
        data = {**rt.state.qa_policy.model_dump(), "mode": mode}
        if retries is not None:
            data["retries"] = retries
        try:
            policy = QAPolicy.model_validate(data)
        except ValidationError as exc:
            raise from_validation(exc, "set_qa_policy") from None
        rt.state.qa_policy = policy
        rt.save()
    return policy
