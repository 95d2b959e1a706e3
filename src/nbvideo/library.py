"""`nv.assets(root)`: a team's asset library of images, clips, logos, music and voice lines.

A library lives in `<root>/asset-library/` (store/assets.py keeps the files and the index).
In a workspace, adding, tagging and removing are an editor's actions, checked by the
workspace's role gate (runtime/roles.py) and written to its audit log; reading and
searching are open to every member. A plain folder has no roles: whoever can write the folder
can change its library.

Why a thumbnail and the probed facts are kept: the library is browsed in a notebook by
people choosing a shot, so `lib` shows a grid of small pictures with size and length
without opening a single clip.

>>> import nbvideo as nv
>>> lib = nv.assets("agency")                                              # doctest: +SKIP
>>> logo = lib.add("brand/logo.png", kind="logo", tags=["acme"], licence="ours")  # doctest: +SKIP
>>> p.scene(1).use_asset(logo, as_="frame")                                # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbvideo.errors import InvalidInput, quote
from nbvideo.model import workspace as wsm
from nbvideo.model.assets import Asset, check_kind, check_tags
from nbvideo.runtime.roles import Gate, identity
from nbvideo.store.assets import MAX_ASSET_BYTES, AssetStore, Described
from nbvideo.store.imports import Staged, clip_fits, refusal

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AssetLibrary", "assets"]

THUMB_SIDE = 320
WAVE_SIZE = (320, 96)
HTML_CARDS = 48
COLUMNS = ["id", "kind", "name", "tags", "source", "licence", "width", "height",
           "duration_s", "has_audio", "codec", "size_bytes", "added_by", "added_at"]


# ---------------------------------------------------------------------------- describing
def _png(im: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _small(im: Any) -> Any:
    im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    im.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return im


def _image(s: Staged) -> Described:
    from nbvideo.media.ffmpeg import open_image

    with open_image(s.path, "asset") as im:
        facts = {"width": im.width, "height": im.height,
                 "codec": (im.format or s.path.suffix.lstrip(".")).lower()}
        return Described(facts, _png(_small(im)))


def _video(s: Staged) -> Described:
    from PIL import Image

    from nbvideo.render.engine import poster_frame

    info = clip_fits(s)  # the limits a project's own clip import holds it to
    with tempfile.TemporaryDirectory(prefix="nbvideo-thumb-") as tmp:
        still = poster_frame(s.path, Path(tmp) / "thumb.png", min(1.0, info.duration_s / 2))
        with Image.open(still) as im:
            thumb = _png(_small(im))
    facts = {"width": info.width, "height": info.height, "fps": round(info.fps, 6),
             "duration_s": round(info.duration_s, 6), "has_audio": info.has_audio,
             "codec": info.codec}
    return Described(facts, thumb)


def _audio(s: Staged) -> Described:
    import av
    from PIL import Image, ImageDraw

    from nbvideo.sound.waveform import file_waveform

    with av.open(str(s.path)) as c:
        codec = c.streams.audio[0].codec_context.name
    wave = file_waveform(s.path, buckets=WAVE_SIZE[0])
    if wave.duration_s <= 0:
        raise refusal(s.rule, s.given, "holds no sound")
    w, h = WAVE_SIZE
    im = Image.new("RGB", (w, h), "#1f2430")
    draw = ImageDraw.Draw(im)
    mid = h / 2
    for x, (lo, hi) in enumerate(wave.peaks):
        draw.line([(x, mid - max(float(hi), 0.01) * mid * 0.95),
                   (x, mid - min(float(lo), -0.01) * mid * 0.95)], fill="#7fd1b9")
    return Described({"duration_s": round(wave.duration_s, 6), "has_audio": True,
                      "codec": codec}, _png(im))


def describe(s: Staged, media: str) -> Described:
    """The probed facts and a thumbnail of a staged file (raises a refusal when it has
    nothing to show: a clip under half a second, a sound that is silent)."""
    return {"image": _image, "video": _video, "audio": _audio}[media](s)


# ---------------------------------------------------------------------------- the library
class AssetLibrary:
    """The asset library of a workspace (or any folder): add, search, tag, remove.

    Each method reads the index fresh, so two handles (two kernels, two people) see each
    other's changes. `lib[...]`/`lib.get("asset:3fa9c2")` finds one asset; `len(lib)` counts
    them; in a notebook `lib` shows a grid of thumbnails."""

    def __init__(self, root: str | os.PathLike[str], *,
                 import_from: Sequence[str | os.PathLike[str]] = (),
                 max_bytes: int | None = None) -> None:
        path = Path(root).expanduser().absolute()
        if path.exists() and not path.is_dir():
            raise InvalidInput(f"root must be a folder (a workspace or any folder), got the "
                               f"file {path}")
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(
                max_bytes, int) or max_bytes < 1):
            raise InvalidInput(f"max_bytes must be a whole number of bytes >= 1, got "
                               f"{quote(max_bytes)}")
        path.mkdir(parents=True, exist_ok=True)  # a new folder's library, as Project.open
        self._ws = wsm.find_root(path)  # a library anywhere in a workspace is gated by it
        here = "the workspace" if self._ws == path else "the library's folder"
        roots = [(f"{here} {path}", path)]
        for extra in import_from:
            folder = Path(extra).expanduser().absolute()
            if not folder.is_dir():
                raise InvalidInput(f"import_from must name folders, got {quote(str(extra))}")
            roots.append((str(folder), folder))
        self.store = AssetStore(path, roots=roots, max_bytes=max_bytes)

    @property
    def root(self) -> Path:
        """The folder whose library this is."""
        return self.store.root

    @property
    def folder(self) -> Path:
        """Where the files, thumbnails and index.json are kept."""
        return self.store.folder

    def _gate(self, action: str, detail: str) -> Gate | None:
        """The workspace's role gate, checked for `action` (None outside a workspace)."""
        if self._ws is None:
            return None
        gate = Gate(self._ws, None)
        gate.require(action, detail[:300])
        return gate

    def _user(self, gate: Gate | None) -> str:
        return gate.user if gate is not None else identity(confirm=False)

    # ------------------------------------------------------------------ changing
    def add(self, path: str | os.PathLike[str], *, tags: Iterable[str] | str = (),
            source: str = "", licence: str = "", kind: str | None = None,
            data: bytes | None = None) -> Asset:
        """Import a file: an image, clip, logo, music or voice line (`kind`; default from its
        type: image, clip or music). The same bytes added again are the same asset, its tags
        merged. A relative path is read from the library's folder; any path must lie inside
        it (or a folder of `import_from`). `data` is an upload's bytes, `path` its name.

        Refused with nothing kept (InvalidInput naming the field): a file that does not
        decode as its kind, over the size cap (64 MB image, 256 MB audio, 1 GB clip), a
        symlink, a path outside the folder, a name with `..`, a control character or over
        255 bytes. In a workspace: an editor's action, audited."""
        tag_list = check_tags(list(tags) if not isinstance(tags, str) else tags)
        if kind is not None:
            check_kind(kind)
        gate = self._gate("edit", f"add asset {os.fspath(path)!r}"[:300])
        asset, new = self.store.add(path, kind=kind, tags=tag_list, source=source,
                                    licence=licence, user=self._user(gate),
                                    describe=describe, data=data)
        if gate is not None:
            gate.record("edit", detail=f"asset {asset.id} {'added' if new else 'added again'}"
                                       f": {asset.name}"[:300])
        return asset

    def tag(self, ref: Any, *tags: str, remove: Iterable[str] = ()) -> Asset:
        """Add tags to an asset (and take the `remove` ones off)."""
        add, drop = check_tags(list(tags)), check_tags(list(remove), "remove")
        asset = self.get(ref)
        gate = self._gate("edit", f"tag asset {asset.id}")
        out = self.store.update(asset, lambda a: a.model_copy(update={
            "tags": [t for t in check_tags(a.tags + add) if t not in drop]}))
        if gate is not None:
            gate.record("edit", detail=f"asset {asset.id} tags: {', '.join(out.tags)}"[:300])
        return out

    def remove(self, ref: Any) -> Asset:
        """Take an asset out of the library. Projects that used it keep their own copy."""
        asset = self.get(ref)
        gate = self._gate("edit", f"remove asset {asset.id}")
        gone = self.store.remove(asset)
        if gate is not None:
            gate.record("edit", detail=f"asset {gone.id} removed: {gone.name}"[:300])
        return gone

    # ------------------------------------------------------------------ reading
    def get(self, ref: Any) -> Asset:
        """The asset an id names: 'asset:3fa9c2d1e0ab' (or a unique start of 6+ digits)."""
        return self.store.get(ref)

    __getitem__ = get

    def path(self, ref: Any) -> Path:
        """The asset's file in the library (read it; add a copy to a project with
        `scene.use_asset`)."""
        return self.store.path(self.get(ref))

    def thumbnail(self, ref: Any) -> Path | None:
        """The asset's thumbnail PNG (at most 320 px a side; a waveform for sound)."""
        return self.store.thumb_path(self.get(ref))

    def search(self, text: str | None = None, tag: str | Iterable[str] | None = None,
               kind: str | None = None) -> list[Asset]:
        """Assets whose name, tags, source or licence hold `text` (any case), that have every
        tag in `tag`, of `kind`; oldest first."""
        if text is not None and not isinstance(text, str):
            raise InvalidInput(f"text must be text, got {quote(text)}")
        want = check_tags(tag, "tag") if tag is not None else []
        if kind is not None:
            check_kind(kind)
        needle = (text or "").strip().lower()
        out = []
        for a in self.store.all():
            hay = " ".join([a.name, a.source, a.licence, *a.tags]).lower()
            if (needle in hay and set(want) <= set(a.tags)
                    and (kind is None or a.kind == kind)):
                out.append(a)
        return out

    def __iter__(self) -> Any:
        return iter(self.store.all())

    def __len__(self) -> int:
        return len(self.store.read().assets)

    def __contains__(self, ref: Any) -> bool:
        try:
            self.get(ref)
        except InvalidInput:
            return False
        return True

    def to_pandas(self, assets: Iterable[Asset] | None = None) -> pd.DataFrame:
        """One row per asset: id, kind, name, tags, source, licence and the probed facts."""
        import pandas as pd

        rows = [a.model_dump(include=set(COLUMNS)) for a in
                (self.store.all() if assets is None else assets)]
        return pd.DataFrame(rows, columns=COLUMNS)

    def __repr__(self) -> str:
        return f"<AssetLibrary {self.folder}: {len(self)} assets>"

    def _repr_html_(self) -> str:
        """A grid of the newest HTML_CARDS thumbnails (a notebook keeps what it shows, so a
        library of thousands is not written into it)."""
        items = self.store.all()
        if not items:
            return f"<code>asset library {html.escape(str(self.folder))}: empty</code>"
        more = (f"<p><code>... and {len(items) - HTML_CARDS} more; lib.search(...) or "
                "lib.to_pandas() lists them</code></p>" if len(items) > HTML_CARDS else "")
        cards = []
        for a in items[-HTML_CARDS:]:
            thumb = self.store.thumb_path(a)
            img = (f"<img src='data:image/png;base64,"
                   f"{base64.b64encode(thumb.read_bytes()).decode()}' "
                   "style='max-width:160px;max-height:120px'>"
                   if thumb is not None and thumb.is_file() else "")
            size = f"{a.width}x{a.height}" if a.width else ""
            length = f"{a.duration_s:.1f} s" if a.duration_s else ""
            facts = " · ".join(x for x in (a.kind, size, length) if x)
            cards.append(
                f"<figure style='margin:4px;width:164px'>{img}<figcaption style="
                f"'font-size:11px'><b>{html.escape(a.name[:40])}</b><br>{html.escape(facts)}"
                f"<br><code>{a.id}</code><br>{html.escape(', '.join(a.tags))}</figcaption>"
                "</figure>")
        return f"<div style='display:flex;flex-wrap:wrap'>{''.join(cards)}</div>{more}"


def assets(root: str | os.PathLike[str], *, import_from: Sequence[str | os.PathLike[str]] = (),
           max_bytes: int | None = None) -> AssetLibrary:
    """The asset library of `root` (a workspace, or any folder): see `AssetLibrary`.

    Files are added from inside `root` (and the folders of `import_from`, e.g. your home
    folder); `max_bytes` lowers the size cap for every kind (default per kind:
    image 64 MB, audio 256 MB, clip 1 GB)."""
    return AssetLibrary(root, import_from=import_from, max_bytes=max_bytes)


assert set(MAX_ASSET_BYTES) == {"image", "audio", "video"}
