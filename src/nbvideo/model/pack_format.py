"""What a template pack holds, as pydantic models: its manifest, where it came from, and the
two kinds of content that have no loader of their own yet (storyboard templates, notebooks).

A pack is a folder::

    nbvideo-pack.json   the manifest (`PackManifest`)
    briefs/*.json       brief templates (`nbvideo.model.templates.BriefTemplate`)
    storyboards/*.json  storyboard templates (`StoryboardTemplate`)
    brands/*.json       brand kits, their logos and fonts beside them
    looks/*.json        looks (`nbvideo.model.look.Look`), their images beside them
    notebooks/*.ipynb   template notebooks (`NotebookDoc`): data, never run at install
    README.md, LICENSE  free text

Only the file types in `ALLOWED_SUFFIXES` may be in it, and the limits below cap its size, so
installing one can never bring in code or fill a disk.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from nbvideo.model.checked import Checked
from nbvideo.model.pack import SLUG
from nbvideo.model.state import (
    MAX_SCENE_S,
    MIN_SCENE_S,
    Aspect,
    Beat,
    CameraMove,
    ShotType,
)

__all__ = ["ALLOWED_SUFFIXES", "MAX_FILES", "MAX_FILE_BYTES", "MAX_PACK_BYTES", "NAME_PART",
           "NotebookDoc", "PackManifest", "PackOrigin", "StoryboardScene", "StoryboardTemplate",
           "TEXT_NAMES"]

# Data only: no .py, no .sh, no archives, nothing a tool would execute or unpack.
ALLOWED_SUFFIXES = frozenset({".json", ".png", ".jpg", ".jpeg", ".webp", ".ipynb", ".cube",
                              ".md", ".txt", ".ttf", ".otf"})
TEXT_NAMES = frozenset({"LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS"})  # no suffix
NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # no '..', no dotfiles, no spaces
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_PACK_BYTES = 100 * 1024 * 1024
MAX_FILES = 2000
MAX_DEPTH = 4  # briefs/x.json is depth 2; a pack has no deep trees


class _Data(Checked):
    model_config = ConfigDict(extra="forbid")


class PackManifest(_Data):
    """``nbvideo-pack.json``: who made the pack and under what terms."""

    name: str = Field(pattern=SLUG.pattern, description="Lowercase slug: a-z, 0-9 and '-'.")
    version: str = Field(max_length=64, description="A PEP 440 version, e.g. 0.1.0.")
    author: str = Field(min_length=1, max_length=120)
    licence: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+() -]{0,79}$",
                         description="An SPDX identifier or expression, e.g. CC-BY-4.0.")
    description: str = Field("", max_length=500)
    homepage: str = Field("", max_length=300, pattern=r"^(https://\S+)?$")

    @field_validator("version")
    @classmethod
    def _pep440(cls, v: str) -> str:
        from packaging.version import InvalidVersion, Version

        try:
            return str(Version(v))
        except InvalidVersion:
            raise ValueError(f"{v!r} is not a PEP 440 version (e.g. 0.1.0)") from None

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, v: str) -> str:
        if v == "nbvideo":
            raise ValueError("'nbvideo' is the built-in pack's name; pick another")
        return v


class PackOrigin(_Data):
    """``origin.json``, written by the installer: where an installed pack came from."""

    kind: Literal["folder", "git", "package"]
    source: str = Field(max_length=2000, description="Folder path, git URL or distribution.")
    commit: str | None = Field(None, pattern=r"^[0-9a-f]{40,64}$")
    distribution_version: str | None = Field(None, max_length=64)
    installed_at: datetime

    def label(self) -> str:
        """One short line for a table: 'git https://…@1a2b3c4d5e6f', 'package acme==1.0'."""
        if self.kind == "git":
            return f"git {self.source}@{(self.commit or '')[:12]}"
        if self.kind == "package":
            return f"package {self.source}=={self.distribution_version}"
        return f"folder {self.source}"


class StoryboardScene(_Data):
    """One scene of a storyboard template: what a new project's scene starts as."""

    beat: Beat
    title: str = Field("", max_length=200)
    description: str = Field("", max_length=2000, description="Default: the visual prompt.")
    shot: ShotType = "medium"
    camera: CameraMove = "static"
    duration_s: float = Field(ge=MIN_SCENE_S, le=MAX_SCENE_S)
    visual_prompt: str = Field(min_length=1, max_length=2000)
    on_screen_text: str = Field("", max_length=200)
    voice_line: str = Field("", max_length=400)


class StoryboardTemplate(_Data):
    """A storyboard to start from: the scenes in order, with their shots and words."""

    id: str = Field(pattern=SLUG.pattern)
    name: str = Field(min_length=2, max_length=120)
    description: str = Field("", max_length=500)
    aspect: Aspect = "16:9"
    scenes: list[StoryboardScene] = Field(min_length=1, max_length=60)


class NotebookCell(Checked):
    model_config = ConfigDict(extra="allow")

    cell_type: Literal["code", "markdown", "raw"]
    source: str | list[str]


class NotebookDoc(Checked):
    """The parts of an .ipynb nbvideo relies on: a version 4 notebook with cells. It is data:
    nothing in it runs at install."""

    model_config = ConfigDict(extra="allow")

    nbformat: Literal[4]
    nbformat_minor: int = Field(ge=0)
    metadata: dict[str, Any]
    cells: list[NotebookCell] = Field(max_length=2000)

    @model_validator(mode="after")
    def _has_cells(self) -> NotebookDoc:
        if not self.cells:
            raise ValueError("a template notebook needs at least one cell")
        return self
