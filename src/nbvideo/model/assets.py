"""An asset library: a team's own images, clips, logos, music and voice lines, by content.

Why by content: a logo uploaded by three people is one file with one id, so a project that
used it, an export that records it and a search that finds it all agree. The id is
`asset:` and the first 12 hex digits of the file's SHA-256; the index (`index.json` in the
library folder, see store/assets.py) maps ids to these records.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator

from nbvideo.errors import InvalidInput, quote
from nbvideo.model.checked import Checked

AssetKind = Literal["image", "clip", "logo", "music", "voice"]
ASSET_KINDS: tuple[AssetKind, ...] = ("image", "clip", "logo", "music", "voice")
MEDIA: dict[str, Literal["image", "video", "audio"]] = {
    "image": "image", "logo": "image", "clip": "video", "music": "audio", "voice": "audio"}
"""What each kind of asset must decode as."""

ID_DIGITS = 12
MIN_REF_DIGITS = 6
_ID = rf"^asset:[0-9a-f]{{{ID_DIGITS}}}$"
_TAG = re.compile(r"^[^\s,#][^,#]{0,39}$")
MAX_TAGS = 50
MAX_SOURCE = 500
MAX_LICENCE = 200


def check_tags(tags: Any, field: str = "tags") -> list[str]:
    """Tags as kept: trimmed, lower case, in order, no repeats. A tag is 1-40 characters
    without commas or '#'; a single string is one tag."""
    if isinstance(tags, str):
        tags = [tags]
    if tags is None:
        return []
    if not isinstance(tags, list | tuple | set | frozenset):
        raise InvalidInput(f"{field} must be a list of words, got {quote(tags)}")
    out: list[str] = []
    for t in tags:
        tag = t.strip().lower() if isinstance(t, str) else t
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise InvalidInput(f"{field}: each tag must be text of 1-40 characters without "
                               f"',' or '#', got {quote(t)}")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"{field}: at most {MAX_TAGS} tags, got {len(out)}")
    return out


def check_kind(kind: Any) -> AssetKind:
    if kind not in ASSET_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ASSET_KINDS)}, got {quote(kind)}")
    return kind  # type: ignore[no-any-return]


def ref_prefix(ref: Any) -> str:
    """The hex digits an asset reference names: `asset:3fa9c2d1e0ab` (or a shorter unique
    start, at least 6 digits)."""
    text = ref.strip().lower() if isinstance(ref, str) else None
    m = re.fullmatch(rf"asset:([0-9a-f]{{{MIN_REF_DIGITS},64}})", text or "")
    if m is None:
        raise InvalidInput(f"asset must be an Asset or an id like 'asset:3fa9c2d1e0ab' "
                           f"('asset:' and at least {MIN_REF_DIGITS} hex digits), got "
                           f"{quote(ref)}")
    return m.group(1)


class Asset(Checked):
    """One file in the library, with what is known about it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    id: str = Field(pattern=_ID, description="'asset:' + the first 12 hex digits of sha256.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: AssetKind
    name: str = Field(min_length=1, max_length=255, description="The file's own name.")
    file: str = Field(max_length=300, description="The kept file, relative to the library.")
    thumb: str | None = Field(None, max_length=300,
                              description="Its thumbnail PNG, relative to the library.")
    size_bytes: int = Field(gt=0)
    tags: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list,
                                                             max_length=MAX_TAGS)
    source: str = Field("", max_length=MAX_SOURCE,
                        description="Where it came from (a URL, a shoot).")
    licence: str = Field("", max_length=MAX_LICENCE, description="Who may use it, and how.")
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, ge=0)
    fps: float | None = Field(None, ge=0)
    has_audio: bool | None = None
    codec: str | None = Field(None, max_length=40)
    added_by: str = Field("", max_length=80)
    added_at: _dt.datetime = Field(default_factory=lambda: _dt.datetime.now(_dt.UTC))
    _library: Any = PrivateAttr(None)  # the folder of the library it was read from

    @field_validator("file", "thumb")
    @classmethod
    def _inside(cls, v: str | None) -> str | None:
        if v is not None and (v.startswith("/") or ".." in v.split("/") or "\\" in v):
            raise ValueError("must be a path inside the library folder")
        return v

    def __repr__(self) -> str:
        size = f" {self.width}x{self.height}" if self.width else ""
        length = f" {self.duration_s:.2f}s" if self.duration_s else ""
        tags = f" [{', '.join(self.tags)}]" if self.tags else ""
        return f"<Asset {self.id} {self.kind} {self.name!r}{size}{length}{tags}>"

    __str__ = __repr__

    @property
    def media(self) -> Literal["image", "video", "audio"]:
        return MEDIA[self.kind]


class AssetIndex(Checked):
    """The library's index file: every asset by id."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    assets: dict[str, Asset] = Field(default_factory=dict)

    @field_validator("assets")
    @classmethod
    def _keys(cls, v: dict[str, Asset]) -> dict[str, Asset]:
        for key, asset in v.items():
            if key != asset.id:
                raise ValueError(f"key {key!r} is not its asset's id {asset.id!r}")
        return v
