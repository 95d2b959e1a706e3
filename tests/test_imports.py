"""Every way a user's file enters a project meets the same attacker inputs and refuses each,
naming its own field, with nothing already in the project changed (store/imports.py is the
one gate; finish(music=), which uses a project file in place, is driven too)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbvideo as nv
from nbvideo.errors import NbvideoError
from nbvideo.media.audio_io import write_wav
from nbvideo.media.ffmpeg import ffmpeg_exe
from nbvideo.sound import music_files, recorded, sfx
from nbvideo.store import imports
from tests.conftest import BRIEF, SMALL

INCOMING = "incoming"  # where a case puts its file: inside the project, named relative to it


@dataclass(frozen=True)
class Path_:
    """One way in: its field in errors, the type it takes, how a user calls it, its cap."""

    field: str
    suffix: str
    call: Callable[[nv.Project, str], Any]
    cap: tuple[Any, str] | None  # (module, name) of the size cap; None: nothing is copied
    kept_as: Callable[[str, str], str] | None  # (stem, sha12) -> the kept file's project path
    upload: bool = False  # given as bytes and a file name, not a path


def _upload(p: nv.Project, given: str) -> Any:
    """`set_music_file` as the timeline's upload calls it: the file's bytes and its name."""
    source = p.path / INCOMING / Path(given.replace("\x00", "")).name
    data = source.read_bytes() if source.is_file() and not source.is_symlink() else b""
    return p.set_music_file(data, given)


PATHS: dict[str, Path_] = {
    "clip": Path_("import_clip: path", ".mp4", lambda p, v: p.import_clip(1, v),
                  (imports, "MAX_IMPORT_BYTES"),
                  lambda stem, h: f"assets/clips/imported/{stem}-{h}.mp4"),
    "voice line": Path_("voice", ".wav", lambda p, v: recorded.take_in(p.runtime, v),
                        (recorded, "MAX_RECORDING_BYTES"),
                        lambda stem, h: f"assets/voice/recorded/{stem}-{h}.wav"),
    "sound effect": Path_("import_sound_effect", ".wav",
                          lambda p, v: p.import_sound_effect(v, name="fx"),
                          (sfx, "MAX_SFX_BYTES"), lambda _stem, h: f"assets/sfx/user/fx-{h}.wav"),
    "music upload": Path_("music file", ".wav", _upload, (music_files, "MAX_MUSIC_BYTES"),
                          lambda stem, h: f"assets/music/user/{stem}-{h}.wav", upload=True),
    "music setting": Path_("finish: music", ".wav", lambda p, v: p.finish(music=v), None, None),
}


def _tone(path: Path, seconds: float = 1.0) -> Path:
    t = np.arange(round(seconds * 48_000)) / 48_000
    write_wav(path, 0.3 * np.sin(2 * np.pi * 440 * t))
    return path


def _video(path: Path) -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=64x36:rate=12:duration=1", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _good(p: nv.Project, way: Path_) -> Path:
    """A file the way takes, in the project's incoming folder."""
    folder = p.path / INCOMING
    folder.mkdir(exist_ok=True)
    made = folder / f"good{way.suffix}"
    if not made.is_file():
        (_video if way.suffix == ".mp4" else _tone)(made)
    return made


# Each case sets up its input (undone after it) and gives the path a user would type.
Case = Callable[[nv.Project, Path_, Path, pytest.MonkeyPatch], str]


def _symlink_inside(p: nv.Project, way: Path_, _out: Path, _mp: pytest.MonkeyPatch) -> str:
    (p.path / INCOMING / f"passwd{way.suffix}").symlink_to("/etc/passwd")
    return f"{INCOMING}/passwd{way.suffix}"


def _symlink_outside(p: nv.Project, way: Path_, out: Path, _mp: pytest.MonkeyPatch) -> str:
    link = out / f"passwd{way.suffix}"
    if not link.is_symlink():
        link.symlink_to("/etc/passwd")
    return str(link)


def _dotdot(p: nv.Project, way: Path_, out: Path, _mp: pytest.MonkeyPatch) -> str:
    good = _good(p, way)
    copy = out / good.name
    copy.write_bytes(good.read_bytes())  # a real file: only the '..' is wrong
    return f"../{out.name}/{good.name}"


def _nul(p: nv.Project, way: Path_, _out: Path, _mp: pytest.MonkeyPatch) -> str:
    _good(p, way)
    return f"{INCOMING}/good\x00{way.suffix}"


def _folder(p: nv.Project, way: Path_, _out: Path, _mp: pytest.MonkeyPatch) -> str:
    (p.path / INCOMING / f"folder{way.suffix}").mkdir()
    return f"{INCOMING}/folder{way.suffix}"


def _empty(p: nv.Project, way: Path_, _out: Path, _mp: pytest.MonkeyPatch) -> str:
    (p.path / INCOMING / f"empty{way.suffix}").write_bytes(b"")
    return f"{INCOMING}/empty{way.suffix}"


def _renamed(suffix: str | None) -> Case:
    def case(p: nv.Project, way: Path_, _out: Path, _mp: pytest.MonkeyPatch) -> str:
        name = f"notes{suffix or way.suffix}"
        (p.path / INCOMING / name).write_text("Dear diary, this is not media.\n" * 40)
        return f"{INCOMING}/{name}"
    return case


def _over_cap(p: nv.Project, way: Path_, _out: Path, mp: pytest.MonkeyPatch) -> str:
    assert way.cap is not None
    good = _good(p, way)
    mp.setattr(*way.cap, good.stat().st_size - 1)
    return f"{INCOMING}/{good.name}"


def _taken_name(p: nv.Project, way: Path_, _out: Path, _mp: pytest.MonkeyPatch) -> str:
    """The name the good file would be kept under already holds another file."""
    assert way.kept_as is not None
    good = _good(p, way)
    sha12 = hashlib.sha256(good.read_bytes()).hexdigest()[:12]
    there = p.path / way.kept_as("good", sha12)
    there.parent.mkdir(parents=True, exist_ok=True)
    there.write_bytes(b"someone else's file, kept here before")
    return f"{INCOMING}/{good.name}"


def _kept_in_a_link(p: nv.Project, way: Path_, out: Path, _mp: pytest.MonkeyPatch) -> str:
    """The folder the file would be kept in is a symlink out of the project."""
    assert way.kept_as is not None
    good = _good(p, way)
    folder = p.path / Path(way.kept_as("x", "0")).parent
    folder.parent.mkdir(parents=True, exist_ok=True)
    (out / "elsewhere").mkdir(exist_ok=True)
    folder.symlink_to(out / "elsewhere", target_is_directory=True)
    return f"{INCOMING}/{good.name}"


CASES: dict[str, Case] = {
    "symlink to /etc/passwd inside": _symlink_inside,
    "symlink to /etc/passwd outside": _symlink_outside,
    "'..' path": _dotdot,
    "NUL byte": _nul,
    "a directory": _folder,
    "an empty file": _empty,
    "text renamed to its type": _renamed(None),
    "text renamed .png": _renamed(".png"),
    "over the cap": _over_cap,
    "kept name holds another file": _taken_name,
    "kept in a symlinked folder": _kept_in_a_link,
}
# Where a case cannot apply: an upload is bytes (no path to be a link or a folder); a project
# file used in place (finish(music=)) is not copied, so it has no cap and no kept name.
APPLIES: dict[str, Callable[[Path_], bool]] = {
    "symlink to /etc/passwd inside": lambda w: not w.upload,
    "symlink to /etc/passwd outside": lambda w: not w.upload,
    "a directory": lambda w: not w.upload,
    "over the cap": lambda w: w.cap is not None,
    "kept name holds another file": lambda w: w.kept_as is not None,
    "kept in a symlinked folder": lambda w: w.kept_as is not None,
}
TABLE = [(way, case) for way in sorted(PATHS) for case in sorted(CASES)
         if APPLIES.get(case, lambda _w: True)(PATHS[way])]


def _tree(root: Path) -> dict[str, str]:
    """Every entry under the project: a file by its bytes' hash, a folder, a link by target."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nv.Project]:
    p = nv.Project.open(tmp_path_factory.mktemp("imports") / "shoe", brief=BRIEF, **SMALL)
    p.storyboard()
    (p.path / INCOMING).mkdir()
    yield p
    p.close()


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nv.Project]:
    """The project every attack runs against (each case undoes its own setup)."""
    yield from _board(tmp_path_factory)


@pytest.fixture(scope="module")
def taken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nv.Project]:
    """Another project, for the files that are taken in: the attacks never see them."""
    yield from _board(tmp_path_factory)


@pytest.mark.parametrize(("way", "case"), TABLE)
def test_every_way_in_refuses_every_attack_and_changes_nothing(
        board: nv.Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        way: str, case: str) -> None:
    p, w = board, PATHS[way]
    before_setup = _tree(p.path)
    out = tmp_path / "outside"
    out.mkdir()
    try:
        given = CASES[case](p, w, out, monkeypatch)
        before, state = _tree(p.path), p.state.model_dump_json()
        with pytest.raises(NbvideoError) as refused:
            w.call(p, given)
        assert w.field in str(refused.value), str(refused.value)
        assert _tree(p.path) == before, "a refused import changed the project's files"
        assert p.state.model_dump_json() == state
        assert not (out / "elsewhere").exists() or not any((out / "elsewhere").iterdir())
    finally:
        monkeypatch.undo()
        for rel in sorted(set(_tree(p.path)) - set(before_setup), reverse=True):
            gone = p.path / rel
            if gone.is_dir() and not gone.is_symlink():
                gone.rmdir()
            else:
                gone.unlink()


@pytest.mark.parametrize("way", sorted(w for w in PATHS if PATHS[w].kept_as is not None))
def test_the_good_file_comes_in_once_by_its_content(taken: nv.Project, way: str) -> None:
    """The control: the same ways take a real file, and taking it again keeps one copy."""
    p, w = taken, PATHS[way]
    good = _good(p, w)
    sha12 = hashlib.sha256(good.read_bytes()).hexdigest()[:12]
    kept = p.path / w.kept_as("good", sha12)  # type: ignore[misc]
    w.call(p, f"{INCOMING}/{good.name}")
    first = _tree(p.path / "assets")
    assert kept.is_file()
    if way != "sound effect":  # an effect is kept as a 48 kHz WAV made from it
        assert kept.read_bytes() == good.read_bytes()
    w.call(p, f"{INCOMING}/{good.name}")
    assert _tree(p.path / "assets") == first  # no second copy, nothing rewritten


def test_an_upload_name_names_only_the_kept_file(fresh: nv.Project) -> None:
    """A browser upload's file name is a label: only its last part, in safe characters, names
    the file, and it lands in the music folder whatever the name says."""
    data = _tone(fresh.path / "song.wav").read_bytes()
    fresh.set_music_file(data, "C:\\Users\\me\\My Song!.wav")
    music = fresh.state.finishing.music
    assert music.startswith("assets/music/user/My-Song-") and music.endswith(".wav")
    assert (fresh.path / music).read_bytes() == data
