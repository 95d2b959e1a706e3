"""Distribution packages: one folder (and zip) per platform with what its upload form asks for.

Nothing is uploaded. Each folder holds the video, a poster, SRT and WebVTT captions, and the
metadata twice: `metadata.json` keyed by the platform's own form fields, and `upload.txt`, a
sheet a person pastes from. The fields are checked against each platform's limits first, so
a title YouTube would cut or a 31st hashtag Instagram would drop is an error here, not a
surprise after upload.

Limits (from the platforms' upload and posting-API documentation, late 2026):
- YouTube and Shorts: title required, <= 100 characters, no '<' or '>'; description <= 5000
  bytes; more than 60 hashtags and YouTube ignores them all; tags <= 500 characters in all;
  custom thumbnail JPG/PNG <= 2 MB; uploads <= 256 GB.
- TikTok: one caption of <= 2200 characters, hashtags included; the cover is a frame of the
  video chosen by time (TikTok takes no picture); videos <= 4 GB.
- Instagram Reels and feed (published as Reels): caption <= 2200 characters with at most 30
  hashtags; cover image JPG <= 8 MB; video <= 300 MB through the publishing API.
- Web MP4: no form; title, description and an HTML snippet with the captions as a <track>.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from nbvideo.errors import InvalidInput, quote
from nbvideo.model.state import ExportRecord, Metadata, ProjectState
from nbvideo.store.folder import atomic_write_bytes

if TYPE_CHECKING:
    from nbvideo.deliver.thumbnails import PosterMaker

GB = 1024**3
MB = 1024**2


class UploadForm(BaseModel):
    """One platform's upload form: its field names and limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    title_max: int | None = None  # None: no title field
    title_required: bool = False
    description_max_bytes: int | None = None
    caption_max: int | None = None  # one text field holding title, text and hashtags
    caption_utf16: bool = False  # the limit counts UTF-16 code units (TikTok's "runes")
    hashtags_max: int | None = None
    tags_max_chars: int | None = None
    forbidden: str = ""
    poster_max_bytes: int | None = None
    video_max_bytes: int


# An export for a preset is encoded to fit the tightest of these and of publish.RULES where
# it is posted (`Preset.max_upload_bytes`, tests/test_encoding.py holds them together).
FORMS: dict[str, UploadForm] = {
    "youtube": UploadForm(label="YouTube", title_max=100, title_required=True,
                          description_max_bytes=5000, hashtags_max=60, tags_max_chars=500,
                          forbidden="<>", poster_max_bytes=2 * MB, video_max_bytes=256 * GB),
    # TikTok counts the caption (post_info.title) in UTF-16 runes: developers.tiktok.com/doc/
    # content-posting-api-reference-direct-post
    "tiktok": UploadForm(label="TikTok", caption_max=2200, caption_utf16=True,
                         video_max_bytes=4 * GB),
    "reels": UploadForm(label="Instagram Reels", caption_max=2200, hashtags_max=30,
                        poster_max_bytes=8 * MB, video_max_bytes=300 * MB),
    "web": UploadForm(label="Web MP4", video_max_bytes=100 * GB),
}
FORMS["shorts"] = FORMS["youtube"].model_copy(update={"label": "YouTube Shorts"})
FORMS["instagram-feed"] = FORMS["reels"].model_copy(update={"label": "Instagram feed"})


def caption_length(form: UploadForm, text: str) -> int:
    """The caption's length as the platform counts it."""
    return len(text.encode("utf-16-le")) // 2 if form.caption_utf16 else len(text)


class PackageCheckFailed(InvalidInput):
    """Metadata or a file breaks a platform's upload limits; nothing was packaged."""


def draft_metadata(state: ProjectState, cta: str = "", link: str = "",
                   brand: str | None = None) -> Metadata:
    """Upload metadata drafted from the storyboard, brief and brand kit, for a person to edit."""
    from nbvideo.model.brief_facts import analyze_brief

    facts = analyze_brief(state.brief.text)
    title = (state.storyboard_title or facts.product or state.name).strip()
    lines = [s.voice_line.strip() for s in state.scenes if s.voice_line.strip()]
    description = " ".join(lines[:3]) or state.brief.text
    words = [facts.product, facts.category, brand or ""]
    tags = ["".join(w.title().split()) for w in words if w and w.replace(" ", "").isalnum()]
    if link and "://" not in link:
        link = "https://" + link  # kits write 'trailhead.example/rain' as on the end card
    return Metadata(title=title[:100], description=description[:4000], hashtags=tags[:5],
                    cta=(cta or facts.cta or "")[:80], link=link if " " not in link else "")


FIELD_HINTS = {
    "link": "must be an http:// or https:// address without spaces, or empty",
    "hashtags": "each hashtag is one word without spaces or '#' inside (a leading '#' is "
                "optional), at most 100 characters",
}


def hashtags_text(meta: Metadata) -> str:
    return " ".join(meta.hashtags)


def caption(meta: Metadata) -> str:
    """The one text of TikTok and Instagram: title, description, call to action, hashtags."""
    parts = [meta.title, meta.description,
             " ".join(p for p in (meta.cta, meta.link) if p), hashtags_text(meta)]
    return "\n\n".join(p for p in parts if p)


def youtube_description(meta: Metadata) -> str:
    parts = [meta.description, " ".join(p for p in (meta.cta, meta.link) if p),
             hashtags_text(meta)]
    return "\n\n".join(p for p in parts if p)


def check_metadata(meta: Metadata, preset: str) -> list[str]:
    """Each way `meta` breaks the platform's form, naming the field, the value and the limit."""
    form = FORMS[preset]
    problems: list[str] = []
    if form.title_max is not None:
        if form.title_required and not meta.title.strip():
            problems.append(f"{form.label}: title is required")
        if len(meta.title) > form.title_max:
            problems.append(f"{form.label}: title is {len(meta.title)} characters; the limit "
                            f"is {form.title_max}")
    if form.description_max_bytes is not None:
        size = len(youtube_description(meta).encode())
        if size > form.description_max_bytes:
            problems.append(f"{form.label}: description (with call to action and hashtags) is "
                            f"{size} bytes; the limit is {form.description_max_bytes}")
    if form.caption_max is not None and caption_length(form, caption(meta)) > form.caption_max:
        units = "UTF-16 units (an emoji is two)" if form.caption_utf16 else "characters"
        problems.append(f"{form.label}: caption (title, description, call to action, link and "
                        f"hashtags) is {caption_length(form, caption(meta))} {units}; the "
                        f"limit is {form.caption_max}")
    if form.hashtags_max is not None and len(meta.hashtags) > form.hashtags_max:
        problems.append(f"{form.label}: hashtags: {len(meta.hashtags)} given; the limit is "
                        f"{form.hashtags_max}")
    if form.tags_max_chars is not None:
        tags = ",".join(t.lstrip("#") for t in meta.hashtags)
        if len(tags) > form.tags_max_chars:
            problems.append(f"{form.label}: tags are {len(tags)} characters in all; the limit "
                            f"is {form.tags_max_chars}")
    for field in ("title", "description"):
        bad = sorted({c for c in getattr(meta, field) if c in form.forbidden})
        if bad:
            problems.append(f"{form.label}: {field} contains {' '.join(bad)}, which "
                            f"{form.label} does not allow")
    return problems


def form_fields(meta: Metadata, preset: str, record: ExportRecord, files: dict[str, str],
                cover_ms: int | None = None) -> dict[str, Any]:
    """The metadata keyed by the platform form's own field names. `cover_ms`: the frame
    chosen as the cover (deliver/thumbnails.py), by time; None: TikTok's at 1 s."""
    chosen = cover_ms
    if cover_ms is None:
        cover_ms = 1000 if record.duration_s > 1 else 0
    if preset in ("youtube", "shorts"):
        return {"title": meta.title, "description": youtube_description(meta),
                "tags": [t.lstrip("#") for t in meta.hashtags], "privacy_status": "private",
                "made_for_kids": None, "thumbnail": files.get("poster"),
                "captions": files.get("captions_srt"), "language": meta.language,
                "video": files["video"]}
    if preset == "tiktok":
        return {"caption": caption(meta), "video_cover_timestamp_ms": cover_ms,
                "video": files["video"]}
    if preset in ("reels", "instagram-feed"):
        reel = {"caption": caption(meta), "cover": files.get("poster"),
                "share_to_feed": True, "video": files["video"]}
        if chosen is not None:  # the Graph API's Reels container field (milliseconds)
            reel["thumb_offset"] = chosen
        return reel
    return {"title": meta.title, "description": meta.description, "cta": meta.cta,
            "link": meta.link, "poster": files.get("poster"),
            "captions_vtt": files.get("captions_vtt"), "video": files["video"]}


def upload_sheet(label: str, fields: dict[str, Any], record: ExportRecord) -> str:
    """A plain-text sheet to paste from, one form field after another."""
    lines = [f"{label} upload", "=" * (len(label) + 7), "",
             f"video: {record.width}x{record.height}, {record.duration_s:.2f} s, "
             f"{record.size_bytes / MB:.1f} MB",
             *([f"encoding: {record.encoding.describe()}"] if record.encoding else []), ""]
    for key, value in fields.items():
        if value is None:
            value = "(choose in the upload form)"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines += [f"{key}:", str(value), ""]
    return "\n".join(lines)


def web_snippet(meta: Metadata, files: dict[str, str], record: ExportRecord) -> str:
    track = (f'\n  <track kind="captions" src="{html.escape(files["captions_vtt"])}" '
             'srclang="en" label="English" default>') if "captions_vtt" in files else ""
    poster = f' poster="{html.escape(files["poster"])}"' if "poster" in files else ""
    return (f'<video controls playsinline width="{record.width}" height="{record.height}"'
            f'{poster} title="{html.escape(meta.title)}">\n'
            f'  <source src="{html.escape(files["video"])}" type="video/mp4">{track}\n</video>\n')


def _place(src: Path, dest: Path) -> None:
    """Hard-link where the file system allows (no second copy of a video), else copy."""
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def write_package(root: Path, out_dir: Path, stem: str, preset: str, record: ExportRecord,
                  meta: Metadata, thumbnail: PosterMaker | None = None) -> dict[str, Any]:
    """The folder and zip for one platform. Checks the files' limits before writing.
    `thumbnail` makes the poster from the chosen frame or picture (at the platform's size,
    within its limit) instead of the export's own."""
    form = FORMS[preset]
    video = root / record.path
    sidecars = {Path(s).suffix: root / s for s in record.sidecars}
    poster = next((root / s for s in record.sidecars if s.endswith(".jpg")), None)
    size = video.stat().st_size
    problems = []
    if size > form.video_max_bytes:
        made = (f", encoded with a {record.encoding.maxrate_kbps} kbit/s ceiling"
                if record.encoding else "")
        problems.append(f"{form.label}: the video is {size / MB:.1f} MB; the limit is "
                        f"{form.video_max_bytes / MB:.0f} MB ({size:,} bytes > "
                        f"{form.video_max_bytes:,}{made}); nothing was re-encoded: shorten "
                        "the ad or export it again")
    if poster is not None and form.poster_max_bytes and poster.stat().st_size > (
            form.poster_max_bytes):
        problems.append(f"{form.label}: the poster is {poster.stat().st_size / MB:.1f} MB; "
                        f"the limit is {form.poster_max_bytes / MB:.0f} MB")
    if problems:
        raise PackageCheckFailed("; ".join(problems))
    folder = out_dir / f"{stem}-{preset}"
    tmp = out_dir / f".{stem}-{preset}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = {"video": f"{stem}-{preset}.mp4"}
    _place(video, tmp / files["video"])
    chosen: dict[str, Any] | None = None
    if thumbnail is not None and thumbnail.finds(record):
        files["poster"] = "poster.jpg"
        try:
            chosen = thumbnail.make(preset, record, tmp / "poster.jpg")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    elif poster is not None:
        files["poster"] = "poster.jpg"
        _place(poster, tmp / "poster.jpg")
    for ext, key in ((".srt", "captions_srt"), (".vtt", "captions_vtt")):
        if ext in sidecars:
            files[key] = f"captions{ext}"
            _place(sidecars[ext], tmp / files[key])
    fields = form_fields(meta, preset, record, files, chosen["cover_ms"] if chosen else None)
    doc = {"platform": form.label, "preset": preset, "fields": fields,
           "metadata": meta.model_dump(), "files": files,
           "video": {"width": record.width, "height": record.height,
                     "duration_s": record.duration_s, "fps": record.fps, "size_bytes": size,
                     "audio": record.audio, "loudness_lufs": record.loudness_lufs,
                     # the H.264 profile, level and bitrate ceiling chosen for the platform
                     "encoding": record.encoding.model_dump() if record.encoding else None},
           "assets": record.assets}  # the asset-library assets in it (for licence checks)
    if chosen is not None:
        doc["thumbnail"] = chosen
    (tmp / "metadata.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    (tmp / "upload.txt").write_text(upload_sheet(form.label, fields, record), encoding="utf-8")
    if preset == "web":
        (tmp / "embed.html").write_text(web_snippet(meta, files, record), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    archive = out_dir / f"{stem}-{preset}.zip"
    _zip(folder, archive)
    return {"preset": preset, "platform": form.label, "folder": folder, "zip": archive,
            "video": folder / files["video"], "size_bytes": size,
            "files": sorted(p.name for p in folder.iterdir())}


def _zip(folder: Path, archive: Path) -> None:
    """Videos are already compressed: stored; text is deflated. Written whole, then renamed."""
    tmp = archive.with_name(f".{archive.name}.partial")
    with zipfile.ZipFile(tmp, "w") as zf:
        for f in sorted(folder.iterdir()):
            kind = zipfile.ZIP_STORED if f.suffix in (".mp4", ".jpg") else zipfile.ZIP_DEFLATED
            zf.write(f, f"{folder.name}/{f.name}", compress_type=kind)
    atomic_write_bytes(archive, tmp.read_bytes())
    tmp.unlink()


def package(root: Path, meta: Metadata, presets: list[str], name: str,
            export: Callable[[list[str]], list[ExportRecord]],
            thumbnail: Callable[[], PosterMaker] | None = None) -> list[dict[str, Any]]:
    """Check every platform's metadata, export once for all presets, then write packages.
    `thumbnail` checks the thumbnail choice (after the metadata, before the export) and
    returns what makes each package's poster from it."""
    unknown = [p for p in presets if p not in FORMS]
    if unknown:
        names = ", ".join(str(u) if len(str(u)) <= 60 else quote(u) for u in unknown)
        raise InvalidInput(f"presets: {names} not known; choose from "
                           f"{', '.join(FORMS)}")
    problems = [msg for p in presets for msg in check_metadata(meta, p)]
    if problems:
        raise PackageCheckFailed("metadata breaks upload limits (edit it with "
                                 "p.set_metadata): " + "; ".join(problems))
    maker = thumbnail() if thumbnail is not None else None
    records = export(presets)
    if maker is not None:
        maker.check(records)  # a time past an export's end: refused before any package
    by_preset = {r.preset: r for r in records}
    out_dir = root / "packages"
    out_dir.mkdir(exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "ad"
    return [write_package(root, out_dir, stem, p, by_preset[p], meta, maker) for p in presets]
