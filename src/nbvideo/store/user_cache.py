"""The per-user cache folder: things nbvideo can make again, shared by every project.

`NBVIDEO_CACHE_DIR` when set (tests, a shared disk), else the platform's user cache dir
(platformdirs: ~/.cache/nbvideo on Linux, ~/Library/Caches/nbvideo on macOS,
%LOCALAPPDATA%\\nbvideo\\Cache on Windows). Safe to delete at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV", "user_cache_dir"]

ENV = "NBVIDEO_CACHE_DIR"


def user_cache_dir(*parts: str) -> Path:
    """The cache folder (or a sub-folder of it), created if missing."""
    root = os.environ.get(ENV, "").strip()
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("nbvideo", appauthor=False)
    path = Path(root).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
