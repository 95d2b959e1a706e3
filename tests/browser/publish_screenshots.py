"""Copy the views' screenshots from the last browser test run into docs/screenshots/.

    python -m tests.browser.publish_screenshots

tests/browser/test_views.py pictures each view (questions, board, clips, timeline) in the
light and dark theme into the artifacts folder. The docs keep small copies: the same crop,
quantized to a 256-colour palette (the views are flat UI and illustrated frames, so this is
hard to tell apart and about a third of the size), each under MAX_BYTES. The palette is picked
by maximum coverage: median cut spends it on the large frame areas and turned small accents
(a green "Approved" label) grey.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from tests.browser.lab import ARTIFACTS

DOCS = Path(__file__).parents[2] / "docs" / "screenshots"
VIEWS = ("questions", "board", "clips", "timeline")
THEMES = ("light", "dark")
MAX_BYTES = 300_000


def publish(src_dir: Path = ARTIFACTS, dest_dir: Path = DOCS) -> list[Path]:
    dest_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for view in VIEWS:
        for theme in THEMES:
            src = src_dir / f"view-{view}-{theme}.png"
            if not src.is_file():
                raise FileNotFoundError(f"{src} is missing: run pytest tests/browser/test_views.py")
            dest = dest_dir / f"{view}-{theme}.png"
            with Image.open(src) as im:
                small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MAXCOVERAGE,
                                                   dither=Image.Dither.NONE)
                small.save(dest, optimize=True)
            if dest.stat().st_size > MAX_BYTES:
                raise ValueError(f"{dest} is {dest.stat().st_size} bytes (> {MAX_BYTES})")
            written.append(dest)
    return written


if __name__ == "__main__":
    for path in publish(Path(sys.argv[1]) if len(sys.argv) > 1 else ARTIFACTS):
        print(f"{path} {path.stat().st_size // 1000} KB")
