"""What the sources allow: whether an export at 2160p would have to upscale its clips.

A 2160p export made from 1080p clips is four times the file for no more detail; an editor who
asks for 4K from generated clips has usually forgotten which scenes are still the model's
720p or 1080p. So an export at 2160p that would upscale any scene stops with the `upscaled`
warning, naming each such scene, its size and the factor, like every other export warning:
`accept=["upscaled"]` (or `accept=True`) exports it anyway and the record keeps the warning.
Below 2160p nothing is said: upscaling 720p clips to a 1080p delivery is the everyday case.

The factor is the one the export engine applies: with `fit="crop"` the clip is scaled to
cover the frame, with `fit="pad"` to fit inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nbvideo.media.ffmpeg import probe, probe_mp4_header
from nbvideo.model.presets import Violation

__all__ = ["UPSCALE_CHECKED", "scale_factor", "upscale_warning"]

UPSCALE_CHECKED = ("2160p",)  # resolutions whose exports refuse a silent upscale
_SLACK = 1.01  # a 1% stretch is the engine's own tolerance (engine._ASPECT_TOLERANCE)


def scale_factor(src: tuple[int, int], out: tuple[int, int], fit: str) -> float:
    """How much the engine enlarges a `src` (w, h) clip to fill `out`: > 1 is an upscale."""
    (w, h), (ow, oh) = src, out
    cover, inside = max(ow / w, oh / h), min(ow / w, oh / h)
    return inside if fit == "pad" else cover


def _size(path: Path) -> tuple[int, int]:
    info = probe_mp4_header(path) or probe(path, count_frames=False)
    return info.width, info.height


def upscale_warning(scenes: Sequence[tuple[int, str, Path]], size: tuple[int, int], fit: str,
                    resolution: str, preset: str) -> Violation | None:
    """The `upscaled` warning for an export at `resolution` and `size` of the clips
    `scenes` ((number, scene id, clip path), in order), or None when none is enlarged."""
    if resolution not in UPSCALE_CHECKED:
        return None
    low = []
    for number, sid, path in scenes:
        w, h = _size(path)
        k = scale_factor((w, h), size, fit)
        if k > _SLACK:
            low.append(f"scene {number} ({sid}, {w}x{h}, x{k:.2g})")
    if not low:
        return None
    return Violation(
        code="upscaled", severity="warning", preset=preset,
        message=f"{len(low)} of {len(scenes)} scenes are below {resolution} "
                f"({size[0]}x{size[1]}) and would be upscaled: {', '.join(low)}; import "
                "sharper clips (p.import_clip(scene, path)), export at a lower resolution, or "
                "accept=['upscaled'] to upscale them")
