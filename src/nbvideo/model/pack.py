"""Where the built-in template pack is: brief templates (``briefs/``) and brand kits (``brands/``).

The pack is data a director edits, so the repository keeps it at its root (``templates/``), not
inside ``src/``. A wheel ships it inside the package as ``nbvideo/templates`` (setup.py copies it
there); an editable install or ``src`` on the path has no copy, and the pack is the folder beside
``src/``. `pack_dir` answers for both, so no caller needs to know which install it runs in.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["pack_dir"]


@lru_cache(maxsize=1)
def pack_dir() -> Path:
    """The template pack's folder: the wheel's ``nbvideo/templates``, else the source tree's
    ``templates/`` (``src/nbvideo`` -> ``src`` -> the repository root)."""
    package = Path(str(resources.files("nbvideo")))
    shipped = package / "templates"
    if shipped.is_dir():
        return shipped
    return package.parent.parent / "templates"
