"""Which transitions the bundled ffmpeg's `xfade` filter really has.

The list differs between ffmpeg releases (4.3 had 30 names, 7.x and later about 57), so it is
read from the binary itself (`ffmpeg -h filter=xfade`, the option's named values), once per
process.
"""

from __future__ import annotations

import functools
import re
import subprocess

from nbvideo.media.ffmpeg import ffmpeg_exe
from nbvideo.model.transitions import TRANSITIONS

__all__ = ["available_transitions", "parse_xfade_help", "xfade_names"]

# In the help, the transition option's values are indented one level deeper than options:
#    transition        <int>   ..FV....... set cross fade transition (from -1 to 57) ...
#      custom          -1      ..FV....... custom transition
#      fade            0       ..FV....... fade transition
_VALUE = re.compile(r"^\s{4,}([a-z][a-z0-9_]*)\s+-?\d+\s+[.A-Z]{4,}")


def parse_xfade_help(text: str) -> frozenset[str]:
    """The named values of xfade's `transition` option in `ffmpeg -h filter=xfade` output,
    without 'custom' (it needs an expression of its own)."""
    names: list[str] = []
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("transition "):
            inside = True
            continue
        if inside:
            m = _VALUE.match(line)
            if m is None:
                break
            names.append(m.group(1))
    return frozenset(n for n in names if n != "custom")


@functools.cache
def xfade_names() -> frozenset[str]:
    """Transition names the bundled ffmpeg's xfade accepts (empty if it has no xfade)."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-h", "filter=xfade"],
                         capture_output=True, text=True, timeout=30, check=False)
    return parse_xfade_help(out.stdout)


def available_transitions() -> list[str]:
    """Our transition names (model/transitions.py) the bundled ffmpeg can render, in the
    table's order: every xfade name it has, and cut, dip_black, dip_white and whip (built
    from filters every ffmpeg with xfade has)."""
    have = xfade_names()
    return [n for n, t in TRANSITIONS.items()
            if (t.xfade is None and (n == "cut" or {"fade", "slideleft"} <= have))
            or t.xfade in have]
