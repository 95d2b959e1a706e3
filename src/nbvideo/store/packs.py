"""Installing template packs: from a folder, a git URL, or an installed Python package.

Every source ends the same way: its files are checked by name, type and size, copied (never
linked, never followed) into a staging folder inside the packs folder, every content file is
validated there with the model the product loads it with, and only then is the staging folder
renamed into place. So a bad pack is refused naming the file and the field at fault, and a
refused or interrupted install leaves nothing behind and an installed version as it was.

Nothing in a pack runs at install: it may only hold data files (`ALLOWED_SUFFIXES`), git runs
with hooks, templates and fsmonitor off, and a package's pack folder is found from its import
spec without importing the package.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pydantic import ValidationError

from nbvideo.errors import NbvideoError, from_validation
from nbvideo.model import pack_format as fmt
from nbvideo.model.look import Look
from nbvideo.model.pack import (
    BUILTIN,
    KINDS,
    MANIFEST,
    ORIGIN,
    SLUG,
    PackError,
    installed_packs,
    pack_dir,
    packs_root,
    resolve_ref,
)
from nbvideo.model.pack_format import NotebookDoc, PackManifest, PackOrigin, StoryboardTemplate
from nbvideo.model.templates import load_file as load_brief_template

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ENTRY_POINT_GROUP", "Installed", "install", "install_folder", "install_git",
           "install_package", "load_look", "load_storyboard", "pack_table", "read_manifest",
           "remove", "validate_folder"]

ENTRY_POINT_GROUP = "nbvideo.templates"
GIT_TIMEOUT_S = 300
_IMAGES = {".png", ".jpg", ".jpeg", ".webp"}
_TEXT = {".md", ".txt", ".cube"}
# What each folder may hold, beside the text files every folder may hold.
_PLACES: dict[str, set[str]] = {
    "briefs": {".json"},
    "storyboards": {".json"},
    "brands": {".json", ".ttf", ".otf", *_IMAGES},
    "looks": {".json", ".cube", *_IMAGES},
    "notebooks": {".ipynb", ".json", *_IMAGES},
}
_GIT_URL = re.compile(r"^(https://|ssh://|git://|file://|[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:)\S+$")
_DIST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Installed:
    """What an install put where."""

    name: str
    version: str
    path: Path
    origin: PackOrigin
    replaced: str | None = None  # the version it replaced (with force)


# ------------------------------------------------------------------------- files in a pack

def _scan(src: Path) -> list[PurePosixPath]:
    """The pack's files, relative, after checking each one's name, type, place and size.

    Hidden entries ('.git', '.gitignore', '.github/') are not part of the pack and are
    skipped; anything else that is not a plain file of an allowed type is refused, so a
    symlink can never point an install outside the pack.
    """
    if not src.is_dir():
        raise PackError(f"template pack source {str(src)!r} is not a folder")
    files: list[PurePosixPath] = []
    total = 0
    for top, dirs, names in os.walk(src, followlinks=False):
        here = PurePosixPath(Path(top).relative_to(src).as_posix())
        here = PurePosixPath() if str(here) == "." else here
        for d in list(dirs):
            rel = here / d
            if d.startswith("."):
                dirs.remove(d)
                continue
            if Path(top, d).is_symlink():
                raise PackError(f"{rel}: is a symbolic link; a template pack holds plain "
                                "files and folders only")
            if not fmt.NAME_PART.match(d) or len(rel.parts) >= fmt.MAX_DEPTH:
                raise PackError(f"{rel}: folder name or depth not allowed (letters, digits, "
                                f"'.', '_', '-'; at most {fmt.MAX_DEPTH - 1} levels)")
            if len(rel.parts) == 1 and d not in KINDS:
                raise PackError(f"{rel}: not a template pack folder; allowed: "
                                f"{', '.join(KINDS)}")
        for n in names:
            if n.startswith("."):
                continue
            rel = here / n
            st = os.lstat(Path(top, n))
            if stat.S_ISLNK(st.st_mode):
                raise PackError(f"{rel}: is a symbolic link; a template pack holds plain "
                                "files and folders only")
            if not stat.S_ISREG(st.st_mode):
                raise PackError(f"{rel}: is not a regular file")
            _check_name(rel)
            if st.st_size > fmt.MAX_FILE_BYTES:
                raise PackError(f"{rel}: {st.st_size:,} bytes is over the "
                                f"{fmt.MAX_FILE_BYTES:,}-byte limit for a file in a pack")
            total += st.st_size
            files.append(rel)
        if total > fmt.MAX_PACK_BYTES:
            raise PackError(f"template pack is over the {fmt.MAX_PACK_BYTES:,}-byte limit")
        if len(files) > fmt.MAX_FILES:
            raise PackError(f"template pack has over {fmt.MAX_FILES} files")
    if PurePosixPath(MANIFEST) not in files:
        raise PackError(f"{MANIFEST}: missing; a template pack's folder starts with its "
                        "manifest (name, version, author, licence)")
    return files


def _check_name(rel: PurePosixPath) -> None:
    """A file may be there: a safe name, a data type, in the folder for its kind."""
    if not all(fmt.NAME_PART.match(p) for p in rel.parts):
        raise PackError(f"{rel}: file name not allowed (letters, digits, '.', '_', '-')")
    suffix = PurePosixPath(rel.name).suffix.lower()
    text = suffix in {".md", ".txt"} or rel.name in fmt.TEXT_NAMES
    if suffix not in fmt.ALLOWED_SUFFIXES and not text:
        raise PackError(f"{rel}: file type {suffix or '(none)'!r} not allowed in a template "
                        f"pack; allowed: {', '.join(sorted(fmt.ALLOWED_SUFFIXES))} (data only)")
    if len(rel.parts) == 1:
        if rel.name != MANIFEST and not text:
            raise PackError(f"{rel}: only {MANIFEST}, README/LICENSE and .md/.txt files may "
                            f"be at a pack's top level; content goes in {', '.join(KINDS)}")
        return
    kind = rel.parts[0]
    if not text and suffix not in _PLACES[kind]:
        raise PackError(f"{rel}: a {suffix} file does not belong in {kind}/; allowed there: "
                        f"{', '.join(sorted(_PLACES[kind]))}")


def _copy(src: Path, dest: Path, files: list[PurePosixPath]) -> None:
    """Copy byte for byte, refusing a file that turned into a symlink since the scan."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    for rel in files:
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(src.joinpath(*rel.parts), flags)
        except OSError as exc:
            raise PackError(f"{rel}: cannot read ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise PackError(f"{rel}: is not a regular file")
            data = f.read(fmt.MAX_FILE_BYTES + 1)
        if len(data) > fmt.MAX_FILE_BYTES:
            raise PackError(f"{rel}: over the {fmt.MAX_FILE_BYTES:,}-byte limit for a file")
        target.write_bytes(data)


# ---------------------------------------------------------------------------- validation

def _json(path: Path, rel: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise PackError(f"{rel}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise PackError(f"{rel}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg})") from None


def read_manifest(folder: Path) -> PackManifest:
    """The pack's manifest, validated; errors name the field."""
    raw = _json(folder / MANIFEST, MANIFEST)
    try:
        return PackManifest.model_validate(raw)
    except ValidationError as exc:
        raise PackError(str(from_validation(exc, prefix=f"{MANIFEST}: "))) from None


def _content(folder: Path, kind: str) -> list[Path]:
    """The content files of a kind: the JSON (or .ipynb) files directly in its folder."""
    d = folder / kind
    pattern = "*.ipynb" if kind == "notebooks" else "*.json"
    return sorted(d.glob(pattern)) if d.is_dir() else []


def _validate_file(folder: Path, path: Path, kind: str) -> None:
    """One content file, with the model the product loads it with."""
    from nbvideo.store.brands import load_brand
    from nbvideo.store.confine import confined_file

    rel = path.relative_to(folder).as_posix()
    if kind != "notebooks" and not SLUG.match(path.stem):
        raise PackError(f"{rel}: the name {path.stem!r} must be a lowercase slug (a-z, 0-9, "
                        "'-'): it is how the content is picked, as pack/name")
    try:
        if kind == "briefs":
            load_brief_template(path)
        elif kind == "brands":
            load_brand(path)
        elif kind == "storyboards":
            board = StoryboardTemplate.model_validate(_json(path, rel))
            if board.id != path.stem:
                raise PackError(f"{rel}: id: {board.id!r} must match the file name "
                                f"{path.stem!r}")
        elif kind == "looks":
            look = Look.model_validate(_json(path, rel))
            for field in ("reference_image", "logo"):
                value = getattr(look, field)
                if value:
                    confined_file(value, field=f"look.{field}", kind="image",
                                  roots=[("the pack's looks folder", folder / "looks")])
        else:
            NotebookDoc.model_validate(_json(path, rel))
    except ValidationError as exc:
        raise PackError(str(from_validation(exc, prefix=f"{rel}: "))) from None
    except RecursionError:  # json.loads of '[[[[...' thousands deep
        raise PackError(f"{rel}: nested too deeply to be a template file") from None
    except PackError:
        raise
    except NbvideoError as exc:  # the loaders name the file by its full (staging) path
        msg = str(exc).replace(str(path), rel).replace(str(folder.resolve()) + os.sep, "")
        msg = msg.replace(str(folder) + os.sep, "")
        raise PackError(msg if msg.startswith(rel) else f"{rel}: {msg}") from None


def _check_data(folder: Path, rel: PurePosixPath) -> None:
    """Files that are not content: images must decode, text must be UTF-8 text."""
    from nbvideo.media.sniff import sniff

    path = folder.joinpath(*rel.parts)
    suffix = path.suffix.lower()
    if suffix in _IMAGES:
        why = sniff(path, "image").why
        if why:
            raise PackError(f"{rel}: not an image that can be read ({why})")
    elif suffix in {".ttf", ".otf"}:
        from PIL import ImageFont

        try:
            ImageFont.truetype(str(path), 12)
        except (OSError, ValueError):
            raise PackError(f"{rel}: not a font that can be read") from None
    elif suffix in _TEXT or rel.name in fmt.TEXT_NAMES:
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise PackError(f"{rel}: not UTF-8 text") from None
        if b"\0" in data:
            raise PackError(f"{rel}: holds a NUL byte; text files must be text")


def validate_folder(folder: Path) -> tuple[PackManifest, dict[str, int]]:
    """Check a pack folder whole: its files, manifest and every content file. Returns the
    manifest and the count of each kind of content."""
    files = _scan(folder)
    manifest = read_manifest(folder)
    for rel in files:
        _check_data(folder, rel)
    counts = {}
    for kind in KINDS:
        found = _content(folder, kind)
        for path in found:
            _validate_file(folder, path, kind)
        counts[kind] = len(found)
    return manifest, counts


# ---------------------------------------------------------------------------- installing

STALE_S = 24 * 3600  # a staging folder this old is from an install that was killed


@contextmanager
def _locked() -> Iterator[Path]:
    """The packs folder, locked against another install or removal; leftovers of a killed
    install (old ``.staging-*`` and ``.removing-*`` folders) are cleared on the way in."""
    import time

    from filelock import FileLock

    root = packs_root()
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / ".lock", timeout=60):
        for left in [*root.glob(".staging-*"), *root.glob(".removing-*")]:
            try:
                stale = time.time() - left.lstat().st_mtime > STALE_S
            except OSError:
                continue
            if stale and left.is_dir() and not left.is_symlink():
                shutil.rmtree(left, ignore_errors=True)
        yield root


def _origin_of(folder: Path) -> PackOrigin | None:
    try:
        return PackOrigin.model_validate_json((folder / ORIGIN).read_bytes())
    except (OSError, ValidationError):
        return None


def install_folder(src: str | os.PathLike[str], *, force: bool = False,
                   origin: PackOrigin | None = None) -> Installed:
    """Install the pack in folder `src` (a copy: the folder can go afterwards).

    Refused with PackError, changing nothing: a bad file or field, or a pack of that name
    already installed (unless `force`, which replaces it whole).
    """
    src = Path(src).expanduser().resolve()
    files = _scan(src)
    origin = origin or PackOrigin(kind="folder", source=str(src), installed_at=_now())
    root = packs_root()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the pack from a hub's other users
        _copy(src, staging, files)
        manifest, _counts = validate_folder(staging)
        (staging / ORIGIN).write_text(origin.model_dump_json(indent=2) + "\n", encoding="utf-8")
        with _locked():
            dest = root / manifest.name
            old = None
            if dest.exists() or dest.is_symlink():
                try:
                    old = read_manifest(dest).version
                except NbvideoError:
                    old = "?"
                if not force:
                    was = _origin_of(dest)
                    raise PackError(
                        f"template pack {manifest.name!r} {old} is already installed"
                        f"{f' (from {was.label()})' if was else ''}; pass force=True "
                        f"(--force) to replace it with {manifest.version}")
                trash = Path(tempfile.mkdtemp(prefix=".removing-", dir=root))
                dest.rename(trash / "pack")
                try:
                    staging.rename(dest)
                except OSError:
                    (trash / "pack").rename(dest)  # put the installed version back
                    raise
                shutil.rmtree(trash, ignore_errors=True)
            else:
                staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Installed(manifest.name, manifest.version, dest, origin, old)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def install_git(url: str, *, force: bool = False) -> Installed:
    """Clone `url` (depth 1, no hooks, no templates, no submodules) and install its pack."""
    if url.startswith("-") or not _GIT_URL.match(url):
        raise PackError(f"git URL {url!r} not allowed; use https://, ssh://, git://, "
                        "user@host:path or file://")
    git = shutil.which("git")
    if git is None:
        raise PackError("installing a template pack from git needs the git command")
    with tempfile.TemporaryDirectory(prefix="nbvideo-pack-") as tmp:
        checkout = Path(tmp) / "checkout"
        cmd = [git, "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
               "-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
               "-c", "protocol.ssh.allow=always", "-c", "protocol.git.allow=always",
               "-c", "protocol.file.allow=always",
               "clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags",
               "--template=", "--", url, str(checkout)]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        env.pop("GIT_TEMPLATE_DIR", None)
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                 timeout=GIT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise PackError(f"git clone {url} took over {GIT_TIMEOUT_S} s; nothing "
                            "installed") from None
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise PackError(f"git clone {url} failed: {last}")
        head = subprocess.run([git, "-c", "core.hooksPath=/dev/null", "-C", str(checkout),
                               "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False, timeout=60).stdout.strip()
        origin = PackOrigin(kind="git", source=url, commit=head or None, installed_at=_now())
        return install_folder(checkout, force=force, origin=origin)


def _entry_point_folder(value: str, dist: str) -> Path:
    """The folder an entry point names ('package.sub:folder'), found from the top-level
    package's import spec: no module of the package is imported or run."""
    from importlib.util import find_spec

    module, _sep, attr = value.partition(":")
    parts = [p.strip() for p in module.strip().split(".")]
    names = [p.strip() for p in attr.strip().split(".") if p.strip()] if attr else []
    if not all(p.isidentifier() for p in parts) or \
            not all(fmt.NAME_PART.match(n) for n in names):
        raise PackError(f"package {dist!r}: entry point {value!r} is not 'package:folder'")
    spec = find_spec(parts[0])  # a top-level name: located, not imported
    if spec is None:
        raise PackError(f"package {dist!r}: its module {parts[0]!r} cannot be found")
    if spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations)))
    elif spec.origin:
        base = Path(spec.origin).parent
    else:
        raise PackError(f"package {dist!r}: module {parts[0]!r} has no folder on disk")
    folder = base.joinpath(*parts[1:], *names)
    if not folder.is_dir():
        raise PackError(f"package {dist!r}: entry point {value!r} names {folder}, which is "
                        "not a folder")
    return folder


def install_package(name: str, *, force: bool = False) -> Installed:
    """Install the pack an installed Python distribution declares under the
    ``nbvideo.templates`` entry point group (`name`: the distribution or entry point name)."""
    from importlib.metadata import entry_points

    def norm(s: str) -> str:
        return re.sub(r"[-_.]+", "-", s).lower()

    eps = entry_points(group=ENTRY_POINT_GROUP)
    hits = [ep for ep in eps if norm(ep.name) == norm(name)
            or (ep.dist is not None and norm(ep.dist.name) == norm(name))]
    if not hits:
        have = sorted({ep.dist.name if ep.dist else ep.name for ep in eps})
        raise PackError(f"no installed Python package declares a template pack named "
                        f"{name!r} (entry point group {ENTRY_POINT_GROUP!r}); "
                        f"found: {', '.join(have) or 'none'}. pip install it first")
    if len(hits) > 1:
        raise PackError(f"{name!r} declares {len(hits)} template packs "
                        f"({', '.join(ep.name for ep in hits)}); install one by its "
                        "entry point name")
    ep = hits[0]
    dist = ep.dist.name if ep.dist is not None else ep.name
    version = ep.dist.version if ep.dist is not None else None
    folder = _entry_point_folder(ep.value, dist)
    origin = PackOrigin(kind="package", source=dist, distribution_version=version,
                        installed_at=_now())
    return install_folder(folder, force=force, origin=origin)


def install(source: str, *, force: bool = False) -> Installed:
    """Install from a folder path, a git URL (``git+`` prefix optional) or an installed
    Python package's name, whichever `source` is."""
    source = str(source).strip()
    if "\0" in source or not source:
        raise PackError("template pack source is empty or holds a NUL byte")
    if source.startswith("git+"):
        return install_git(source[4:], force=force)
    if _GIT_URL.match(source):
        return install_git(source, force=force)
    path = Path(source).expanduser()
    if path.exists() or "/" in source or os.sep in source:
        return install_folder(path, force=force)
    if _DIST.match(source):
        return install_package(source, force=force)
    raise PackError(f"template pack source {source!r} is not a folder, a git URL or an "
                    "installed Python package's name")


def remove(name: str) -> str:
    """Uninstall a pack; returns its version. The built-in pack cannot be removed."""
    if name == BUILTIN:
        raise PackError("the built-in template pack 'nbvideo' cannot be removed")
    with _locked() as root:
        dest = root / name
        if not SLUG.match(name) or name not in installed_packs():
            raise PackError(f"no installed template pack {name!r}; installed: "
                            f"{', '.join(installed_packs()) or 'none'}")
        version = read_manifest(dest).version
        trash = Path(tempfile.mkdtemp(prefix=".removing-", dir=root))
        dest.rename(trash / "pack")
    shutil.rmtree(trash, ignore_errors=True)
    return version


# ------------------------------------------------------------------------------ reading

def _builtin_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nbvideo")
    except PackageNotFoundError:
        return "dev"


def _count(folder: Path) -> dict[str, int]:
    return {kind: len(_content(folder, kind)) for kind in KINDS}


def pack_table() -> pd.DataFrame:
    """Every pack as a row, the built-in one first: name, version, author, licence, origin,
    the count of each kind of content, and its folder."""
    import pandas as pd

    rows = [{"name": BUILTIN, "version": _builtin_version(), "author": "nbvideo",
             "licence": "MIT", "description": "The templates nbvideo ships with.",
             "origin": "built-in", **_count(pack_dir()), "path": str(pack_dir())}]
    for name, folder in installed_packs().items():
        try:
            m = read_manifest(folder)
            meta = {"version": m.version, "author": m.author, "licence": m.licence,
                    "description": m.description}
        except NbvideoError as exc:
            meta = {"version": "?", "author": "?", "licence": "?",
                    "description": f"unreadable: {exc}"}
        origin = _origin_of(folder)
        rows.append({"name": name, **meta, "origin": origin.label() if origin else "?",
                     **_count(folder), "path": str(folder)})
    return pd.DataFrame(rows, columns=["name", "version", "author", "licence", "description",
                                       "origin", *KINDS, "path"])


def _pack_files(kind: str) -> dict[str, Path]:
    found = {p.stem: p for p in _content(pack_dir(), kind)}
    for pack, folder in installed_packs().items():
        found.update({f"{pack}/{p.stem}": p for p in _content(folder, kind)})
    return found


def _pick(kind: str, name: str, what: str) -> Path:
    files = _pack_files(kind)
    key = resolve_ref(name, files, what=what)
    if key is None:
        raise PackError(f"no {what} {name!r}; {what}s: {', '.join(sorted(files)) or 'none'} "
                        "(install a template pack with nbvideo templates install)")
    return files[key]


def load_look(name: str) -> Look:
    """A pack's look by ``pack/name`` (or bare name); its image paths made absolute."""
    path = _pick("looks", name, "look")
    look = Look.model_validate(_json(path, str(path)))
    for field in ("reference_image", "logo"):
        value = getattr(look, field)
        if value:
            setattr(look, field, str((path.parent / value).resolve()))
    return look


def load_storyboard(name: str) -> StoryboardTemplate:
    """A pack's storyboard template by ``pack/name`` (or bare name)."""
    path = _pick("storyboards", name, "storyboard template")
    try:
        return StoryboardTemplate.model_validate(_json(path, str(path)))
    except ValidationError as exc:
        raise PackError(str(from_validation(exc, prefix=f"{path}: "))) from None
