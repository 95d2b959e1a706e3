"""Where template packs are: the built-in one and those a user installed.

The built-in pack is data a director edits, so the repository keeps it at its root
(``templates/``), not inside ``src/``. A wheel ships it inside the package as
``nbvideo/templates`` (setup.py copies it there); an editable install or ``src`` on the path has
no copy, and the pack is the folder beside ``src/``. `pack_dir` answers for both, so no caller
needs to know which install it runs in.

Installed packs (``nbvideo templates install``, see `nbvideo.store.packs`) live one folder each
in `packs_root()`: ``NBVIDEO_PACKS_DIR`` when set (tests, a shared hub volume), else the
platform's per-user data folder. This module only finds them, so every loader (brief templates
in the model, brand kits in the store) asks the same place without importing upward.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from nbvideo.errors import InvalidInput

__all__ = ["BUILTIN", "ENV_PACKS", "KINDS", "MANIFEST", "ORIGIN", "PackError", "installed_packs",
           "pack_dir", "packs_root", "resolve_ref", "SLUG"]

BUILTIN = "nbvideo"  # the built-in pack's name: `nbvideo/explainer` is the built-in explainer
ENV_PACKS = "NBVIDEO_PACKS_DIR"
MANIFEST = "nbvideo-pack.json"
ORIGIN = "origin.json"  # written by the installer next to the pack's content: where it came from
KINDS = ("briefs", "storyboards", "brands", "looks", "notebooks")
SLUG = re.compile(r"^[a-z][a-z0-9-]{1,39}$")  # a pack's name, and a content file's stem


class PackError(InvalidInput):
    """A template pack (or a name in one) is refused; the message names the file and field."""


@lru_cache(maxsize=1)
def pack_dir() -> Path:
    """The template pack's folder: the wheel's ``nbvideo/templates``, else the source tree's
    ``templates/`` (``src/nbvideo`` -> ``src`` -> the repository root)."""
    package = Path(str(resources.files("nbvideo")))
    shipped = package / "templates"
    if shipped.is_dir():
        return shipped
    return package.parent.parent / "templates"


def packs_root() -> Path:
    """The folder installed packs live in (not created here: reading must not write)."""
    root = os.environ.get(ENV_PACKS, "").strip()
    if not root:
        import platformdirs

        root = str(Path(platformdirs.user_data_dir("nbvideo", appauthor=False)) / "packs")
    return Path(root).expanduser()


def installed_packs() -> dict[str, Path]:
    """Installed pack name -> folder, sorted by name. A folder counts once the installer has
    renamed it into place (its manifest is there); staging folders start with a dot."""
    root = packs_root()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir())
            if SLUG.match(p.name) and p.name != BUILTIN and not p.is_symlink()
            and (p / MANIFEST).is_file()}


def resolve_ref(name: str, found: dict[str, Path], *, what: str) -> str | None:
    """The key in `found` a user's name means, or None when nothing matches.

    Keys are bare names (built-in content and ``NBVIDEO_TEMPLATES`` folders, as before packs)
    and ``pack/name`` (installed packs'). A bare name that is not a built-in one matches the
    pack content of that name when exactly one pack has it; two or more is a PackError that
    lists the ``pack/name`` choices, rather than a silent pick. ``nbvideo/<name>`` is the
    built-in one, spelled in full.
    """
    if name in found:
        return name
    pack, sep, bare = name.partition("/")
    if sep and pack == BUILTIN and bare in found:
        return bare
    if sep:
        return None
    hits = sorted(k for k in found if k.endswith("/" + name))
    if len(hits) > 1:
        raise PackError(f"{what} {name!r} is in more than one template pack: "
                        f"{', '.join(hits)}; name it as pack/name")
    return hits[0] if hits else None
