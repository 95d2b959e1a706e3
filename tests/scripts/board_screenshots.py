"""Screenshots of offline storyboards for three products, for docs/screenshots/ (issue 23).

    python -m tests.scripts.board_screenshots [OUT_DIR]

Each brief becomes a local project (its stated length, questions answered with their
defaults, frames drawn offline); the board's static HTML repr (what a saved notebook shows)
is rendered by headless Chromium. No kernel, no network, no keys.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbvideo as nv

BRIEFS = {
    "board-bike-light": "15-second ad for a rechargeable bike light for commuters",
    "board-earbuds": "A 20-second spot for noise-cancelling earbuds for people in open-plan "
                     "offices",
    "board-water-bottle": "a 6-second bumper for a reusable water bottle for gym goers",
}
DOCS = Path(__file__).parents[2] / "docs" / "screenshots"


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("no Chromium on PATH")


def shoot(html: str, out: Path, work: Path, width: int, height: int = 420) -> None:
    page = work / f"{out.stem}.html"
    page.write_text("<!doctype html><meta charset='utf-8'><body style='margin:12px;"
                    "background:#fff'>" + html + "</body>", encoding="utf-8")
    subprocess.run([browser(), "--headless", "--disable-gpu", "--no-sandbox",
                    "--hide-scrollbars", f"--window-size={width},{height}",
                    f"--screenshot={out}", page.as_uri()], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def main(out_dir: Path = DOCS) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, brief in BRIEFS.items():
            p = nv.Project.open(work / name, brief=brief, resolution="720p")
            qs = p.ask()
            p.answer(**{q.id: q.default for q in qs if q.default})
            p.storyboard()
            st = p.state
            html = nv.views.storyboard_html(p.path, st.storyboard_title or st.name, st.scenes,
                                            st.brief.duration_s)
            p.close()
            shoot(html, out_dir / f"{name}.png", work, width=30 + 242 * len(st.scenes))
            made.append(out_dir / f"{name}.png")
    return made


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS):
        print(path)
