"""Colours as the model stores them: '#rrggbb', lower case, checked at the boundary."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from nbvideo.errors import quote

__all__ = ["Color", "hex_rgb", "luma"]


def _color(v: str) -> str:
    if not isinstance(v, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", v.strip()):
        raise ValueError(f"{quote(v)} is not a colour; write it as '#rrggbb'")
    return v.strip().lower()


Color = Annotated[str, AfterValidator(_color)]


def hex_rgb(c: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b)."""
    v = int(_color(c)[1:], 16)
    return (v >> 16 & 255, v >> 8 & 255, v & 255)


def luma(c: str) -> float:
    """Perceived brightness (Rec. 709 weights), for sorting a palette darkest first."""
    r, g, b = hex_rgb(c)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
