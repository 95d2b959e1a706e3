"""The asset library (nv.assets): kept by content, tagged and searched, with thumbnails and
probed facts; used in a project as a frame, a clip, an overlay and the music; refused input
leaves the library as it was; two handles adding at once both land."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput, PathNotAllowed, RoleRefused
from nbvideo.store.assets import LIBRARY_DIR
from tests.conftest import BRIEF, SMALL

FPS = 12


def image(path: Path, size: tuple[int, int] = (640, 360), seed: int = 1) -> Path:
    """A textured picture (noise: a clip animated from it has motion to show)."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def clip(path: Path, seconds: float = 1.5) -> Path:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
                    "-y", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}:duration="
                    f"{seconds}", "-f", "lavfi", "-i", f"sine=f=330:d={seconds}", "-shortest",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", str(path)], check=True)
    return path


def sound(path: Path, seconds: float = 2.0, hz: float = 220.0) -> Path:
    t = np.arange(int(48000 * seconds)) / 48000
    pcm = (np.sin(2 * np.pi * hz * t) * 0.3 * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())
    return path


def disk(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder` and its hash (what a refused add must not
    change); the sparse 2 GB file by its size and time, not read."""
    def mark(p: Path) -> str:
        if p.is_dir():
            return "folder"
        st = p.lstat()
        if st.st_size > 2**20 or p.is_symlink():
            return f"{st.st_size}:{st.st_mtime_ns}"
        return hashlib.sha256(p.read_bytes()).hexdigest()

    return {p.relative_to(folder).as_posix(): mark(p) for p in sorted(folder.rglob("*"))
            if not p.name.endswith(".lock")}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    src = tmp_path_factory.mktemp("media")
    return {"png": image(src / "shoe.png"), "mp4": clip(src / "trail.mp4"),
            "wav": sound(src / "bed.wav")}


@pytest.fixture
def lib(tmp_path: Path, media: dict[str, Path]) -> nv.AssetLibrary:
    """A plain folder's library whose files are added from the media folder too."""
    return nv.assets(tmp_path / "studio", import_from=[media["png"].parent])


def test_same_bytes_twice_are_one_asset_with_merged_tags(lib: nv.AssetLibrary,
                                                        media: dict[str, Path]) -> None:
    a = lib.add(media["png"], tags=["Shoe", "hero"], source="shoot 3", licence="ours")
    copy = lib.root / "incoming" / "other-name.png"
    copy.parent.mkdir()
    copy.write_bytes(media["png"].read_bytes())
    b = lib.add("incoming/other-name.png", tags=["product"])  # relative: in the folder
    assert b.id == a.id == "asset:" + hashlib.sha256(copy.read_bytes()).hexdigest()[:12]
    assert b.tags == ["shoe", "hero", "product"] and b.source == "shoot 3"
    assert len(lib) == 1 and len(list((lib.folder / "files").iterdir())) == 1
    assert lib.get(a.id[:12]).tags == b.tags  # 'asset:' + a unique start of the digits


def test_tags_and_search(lib: nv.AssetLibrary, media: dict[str, Path]) -> None:
    shoe = lib.add(media["png"], tags=["shoe"], kind="logo", licence="CC-BY 4.0")
    trail = lib.add(media["mp4"], tags=["trail", "broll"], source="https://example.com/t")
    bed = lib.add(media["wav"], tags=["calm"])
    assert (shoe.kind, trail.kind, bed.kind) == ("logo", "clip", "music")
    assert lib.search(tag="broll") == [trail]
    assert lib.search("cc-by") == [shoe]  # text finds the licence, any case
    assert lib.search("example.com", kind="clip") == [trail]
    assert lib.search(kind="music") == [bed]
    assert lib.tag(bed.id, "outdoor", remove=["calm"]).tags == ["outdoor"]
    assert lib.search(tag=["outdoor"]) == [lib.get(bed.id)]
    table = lib.to_pandas()
    assert list(table["kind"]) == ["logo", "clip", "music"]
    assert "<img" in lib._repr_html_() and bed.id in lib._repr_html_()
    gone = lib.remove(trail.id)
    assert not (lib.folder / gone.file).exists() and len(lib) == 2
    with pytest.raises(InvalidInput, match="no asset"):
        lib.get(trail.id)


def test_thumbnails_and_probed_facts(lib: nv.AssetLibrary, media: dict[str, Path]) -> None:
    pic, film, bed = (lib.add(media[k]) for k in ("png", "mp4", "wav"))
    with Image.open(lib.thumbnail(pic)) as im:
        assert (im.format, im.size) == ("PNG", (320, 180))  # 640x360 at most 320 a side
    with Image.open(lib.thumbnail(film)) as im:
        assert im.size == (320, 240)
    with Image.open(lib.thumbnail(bed)) as im:
        assert im.size == (320, 96)  # its waveform
    assert (pic.width, pic.height, pic.codec) == (640, 360, "png")
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(lib.path(film)))
    assert film.duration_s == pytest.approx(secs, abs=1.5 / FPS)
    assert frames == round(film.duration_s * film.fps)
    assert (film.width, film.height, film.has_audio, film.codec) == (320, 240, True, "h264")
    assert bed.duration_s == pytest.approx(2.0, abs=0.01) and bed.codec == "pcm_s16le"


def _refusals(root: Path, outside: Path) -> list[tuple[str, object, type[Exception], str]]:
    (root / "notes.png").write_text("not a picture")  # a name that lies
    big = root / "huge.mp4"
    with open(big, "wb") as f:  # 2 GB, sparse: nothing is written
        f.truncate(2 * 2**30)
    image(outside / "elsewhere.png", seed=5)
    (root / "link.png").symlink_to(outside / "elsewhere.png")
    return [
        ("not decodable", "notes.png", InvalidInput, "is not an image that can be read"),
        ("2 GB upload", "huge.mp4", InvalidInput, "is 2 GB; the limit is 1 GB"),
        ("outside", str(outside / "elsewhere.png"), PathNotAllowed, "is outside"),
        ("symlink out", "link.png", InvalidInput, "is a symlink"),
        ("newline", "bad\nname.png", InvalidInput, "control character"),
        ("bidi override", "gpj.\u202egnp", InvalidInput, "bidirectional override"),
        ("dot-dot", "../elsewhere.png", PathNotAllowed, "'..' part"),
        ("NUL", "a\x00.png", InvalidInput, "NUL"),
        ("very long", "x" * 300 + ".png", InvalidInput, "at most 255"),
        ("wrong type", "notes.txt", InvalidInput, "not an image, clip or audio type"),
    ]


def test_bad_input_leaves_the_library_as_it_was(tmp_path: Path,
                                                media: dict[str, Path]) -> None:
    root = tmp_path / "studio"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    lib = nv.assets(root)
    (root / "first.wav").write_bytes(media["wav"].read_bytes())
    lib.add("first.wav", tags=["kept"])
    cases = _refusals(root, outside)
    before = disk(root)
    for what, given, kind, words in cases:
        with pytest.raises(kind, match=words) as err:
            lib.add(given, tags=["new"])
        assert "add" in str(err.value), what  # the message names the field
        assert disk(root) == before, what
    assert [a.tags for a in lib] == [["kept"]]
    with pytest.raises(InvalidInput, match="tags: each tag must be"):
        lib.add("first.wav", tags=["a,b"])
    with pytest.raises(InvalidInput, match="kind must be one of"):
        lib.add("first.wav", kind="poster")
    assert disk(root) == before


def test_a_library_folder_linked_elsewhere_is_refused_and_the_copy_taken_out(
        lib: nv.AssetLibrary, media: dict[str, Path], tmp_path: Path) -> None:
    lib.add(media["wav"])
    elsewhere = tmp_path / "elsewhere"
    (lib.folder / "thumbs").rename(elsewhere)
    (lib.folder / "thumbs").symlink_to(elsewhere)
    before = disk(lib.root)
    with pytest.raises(PathNotAllowed, match="thumbs is a symlink"):
        lib.add(media["png"])
    assert disk(lib.root) == before and len(lib) == 1


def test_a_cap_setting_refuses_a_big_file(lib: nv.AssetLibrary, media: dict[str, Path]) -> None:
    small = nv.assets(lib.root, import_from=[media["png"].parent], max_bytes=1000)
    with pytest.raises(InvalidInput, match=r"the limit is .*give an image file"):
        small.add(media["png"])
    assert not (lib.folder / "index.json").exists()

def _in_threads(*jobs: tuple[str, object]) -> dict[str, BaseException]:
    """Run each (name, callable) in a thread of that name; the errors they raised, by name."""
    errors: dict[str, BaseException] = {}

    def run(name: str, job: Any) -> None:
        try:
            job()
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors[name] = exc

    threads = [threading.Thread(target=run, args=job, name=job[0]) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        if t.is_alive():
            errors[t.name] = TimeoutError(f"{t.name} still running after 60 s")
    return errors


def test_two_handles_adding_at_once_keep_everything(tmp_path: Path) -> None:
    root = tmp_path / "studio"
    root.mkdir()
    files = [image(root / f"p{i}.png", (64, 48), seed=i) for i in range(6)]
    handles = [nv.assets(root), nv.assets(root)]

    def add(h: nv.AssetLibrary, mine: list[Path]) -> None:
        for f in mine:
            h.add(f.name, tags=[f.stem])
        h.add(files[0].name, tags=[f"seen-by-{id(h)}"])  # the same file from both

    errors = _in_threads(*((f"handle-{i}", lambda h=h, i=i: add(h, files[i::2]))
                           for i, h in enumerate(handles)))
    assert not errors
    kept = nv.assets(root)
    assert len(kept) == 6
    first = kept.search(tag="p0")[0]
    assert len([t for t in first.tags if t.startswith("seen-by-")]) == 2


def test_two_first_adds_that_make_the_files_folder_at_once_both_land(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both handles find no files folder and both make it: the one that comes second takes
    the folder the first made (this failed with FileExistsError under load in CI)."""
    root = tmp_path / "studio"
    root.mkdir()
    files = [image(root / f"p{i}.png", (64, 48), seed=i) for i in range(2)]
    both_looked = threading.Barrier(2, timeout=20)
    real_mkdir = Path.mkdir

    def mkdir_after_both_looked(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.name == "files" and self.parent.name == LIBRARY_DIR:
            both_looked.wait()
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir_after_both_looked)
    handles = [nv.assets(root), nv.assets(root)]
    errors = _in_threads(*((f"add-{i}", lambda h=h, f=f: h.add(f.name, tags=[f.stem]))
                           for i, (h, f) in enumerate(zip(handles, files, strict=True))))
    assert not errors
    assert sorted(a.name for a in nv.assets(root)) == ["p0.png", "p1.png"]
    assert not list((root / LIBRARY_DIR / "files").glob(".import.*"))


def test_a_refused_add_tidying_its_new_folder_does_not_fail_anothers_add(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused add removes the files folder it made; another add that found that folder
    a moment before makes it again and lands, and the refused one leaves nothing."""
    from nbvideo.store import imports

    root = tmp_path / "studio"
    root.mkdir()
    good = image(root / "good.png", (64, 48))
    bad_has_its_file, good_found_the_folder, bad_is_gone = (threading.Event() for _ in range(3))
    real_uuid4, real_sniff = imports.uuid.uuid4, imports.sniff

    def uuid4() -> Any:  # named between finding the folder and opening a file in it
        if threading.current_thread().name == "bad":
            bad_has_its_file.set()
        elif threading.current_thread().name == "good" and not good_found_the_folder.is_set():
            good_found_the_folder.set()
            assert bad_is_gone.wait(timeout=20)
        return real_uuid4()

    def sniff(path: Path, kind: Any) -> Any:  # the bad file is refused once good looked
        if threading.current_thread().name == "bad":
            assert good_found_the_folder.wait(timeout=20)
        return real_sniff(path, kind)

    monkeypatch.setattr(imports.uuid, "uuid4", uuid4)
    monkeypatch.setattr(imports, "sniff", sniff)
    lib = nv.assets(root)

    def bad() -> None:
        try:
            with pytest.raises(InvalidInput, match="bad.png"):
                lib.add("bad.png", data=b"not a picture at all")
        finally:
            bad_is_gone.set()

    def good_add() -> None:
        assert bad_has_its_file.wait(timeout=20)
        lib.add(good.name, tags=["good"])

    errors = _in_threads(("bad", bad), ("good", good_add))
    assert not errors
    assert [a.name for a in nv.assets(root)] == ["good.png"]
    assert not list((root / LIBRARY_DIR / "files").glob(".import.*"))


# ---------------------------------------------------------------------------- in a workspace
def test_roles_gate_changes_and_audit_them(tmp_path: Path, media: dict[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "agency"
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    nv.create_workspace(root, name="agency")
    nv.set_role(root, "vi", "viewer")
    (root / "logo.png").write_bytes(media["png"].read_bytes())
    logo = nv.assets(root).add("logo.png", kind="logo")
    monkeypatch.setenv("JUPYTERHUB_USER", "vi")
    before = disk(root / LIBRARY_DIR)
    lib = nv.assets(root)
    with pytest.raises(RoleRefused, match="needs the editor role"):
        lib.add("logo.png", tags=["mine"])
    with pytest.raises(RoleRefused, match="editor"):
        lib.remove(logo.id)
    assert disk(root / LIBRARY_DIR) == before
    assert lib.search("logo") == [logo]  # reading is open
    log = nv.audit(root)
    assert list(log[log["who"] == "vi"]["outcome"]) == ["refused", "refused"]
    done = log[(log["who"] == "ana") & log["detail"].str.contains("asset")]
    assert done["detail"].str.contains(f"asset {logo.id} added").any()


# ---------------------------------------------------------------------------- in a project
@pytest.fixture
def project(tmp_path: Path, media: dict[str, Path]) -> Iterator[tuple[nv.Project, nv.AssetLibrary]]:
    root = tmp_path / "studio"
    lib = nv.assets(root, import_from=[media["png"].parent])
    p = nv.Project.open(root / "shoe", brief=BRIEF, **SMALL)
    p.storyboard()
    yield p, lib
    p.close()


def test_use_as_frame_clip_overlay_and_music(project: tuple[nv.Project, nv.AssetLibrary],
                                             media: dict[str, Path]) -> None:
    p, lib = project
    pic, film, bed = (lib.add(media[k]) for k in ("png", "mp4", "wav"))
    frame = p.scene(1).use_asset(pic, as_="frame")
    assert frame.cost_usd == 0 and p.scene(1).frame_path.read_bytes() == lib.path(pic).read_bytes()
    p.storyboard()  # a library frame stays chosen
    assert p.scene(1).frame.id == frame.id
    p.undo()  # undo puts the drawn frame back; the library take stays, known as the asset's
    assert p.scene(1).frame.id != frame.id
    p.choose_take(1, frame.id)
    rows = len(p.costs)
    take = p.scene(2).use_asset(film.id, as_="clip")  # by id: found in the folder above
    new = p.costs.iloc[rows:]
    assert list(new[["phase", "provider", "model", "cost_usd"]].itertuples(index=False)) == [
        ("clips", "local", "import", 0.0)]  # no provider was called, nothing paid
    assert take.duration_s == pytest.approx(film.duration_s, abs=1e-3)
    item = p.timeline.add_image(pic, 0.0, 2.0, x=0.85, y=0.15, width=0.2)
    broll = p.timeline.add_clip(film, 2.0, 1.0, track="V3", width=0.3)
    assert p.timeline.item(broll.id).path == p.scene(2).clip.path  # one copy in the project
    p.finish(music=bed)
    assert p.music.source == "file" and p.music.duration_s == pytest.approx(2.0, abs=0.01)
    assert sorted(p.state.assets_used()) == sorted([pic.id, film.id, bed.id])
    path = p.path
    p.close()
    q = nv.Project.open(path)
    try:  # the project holds its own copies: the library can go
        lib.remove(pic.id)
        assert q.scene(1).frame_path.is_file() and q.scene(2).clip_path.is_file()
        assert (q.path / q.timeline.item(item.id).path).is_file()
        assert sorted(q.state.assets_used()) == sorted([pic.id, film.id, bed.id])
    finally:
        q.close()


def test_wrong_use_is_refused_and_changes_nothing(project: tuple[nv.Project, nv.AssetLibrary],
                                                  media: dict[str, Path]) -> None:
    p, lib = project
    bed = lib.add(media["wav"])
    before = p.state.model_dump_json()
    with pytest.raises(InvalidInput, match="as a frame it must be an image"):
        p.scene(1).use_asset(bed, as_="frame")
    with pytest.raises(InvalidInput, match="as_ must be 'frame', 'clip' or 'music'"):
        p.scene(1).use_asset(bed, as_="poster")
    with pytest.raises(InvalidInput, match="no asset 'asset:000000'"):
        p.scene(1).use_asset("asset:000000")
    with pytest.raises(InvalidInput, match="asset must be an Asset or an id"):
        p.timeline.add_image("asset:xyz")
    with pytest.raises(InvalidInput):  # a bad item field: the asset is not recorded
        p.timeline.add_audio(bed, -5.0)
    assert p.state.model_dump_json() == before


@pytest.mark.slow
def test_frame_is_animated_and_the_export_lists_its_assets(
        project: tuple[nv.Project, nv.AssetLibrary], media: dict[str, Path]) -> None:
    p, lib = project
    pic, film = lib.add(media["png"]), lib.add(media["mp4"])
    frame = p.scene(1).use_asset(pic, as_="frame")
    p.scene(2).use_asset(film, as_="clip")
    p.generate_clips().wait()
    assert p.scene(1).clip.inputs["frame_sha256"] == frame.checksum  # animated from it
    assert p.scene(1).clip.provider == "local"
    packed = p.package("web", "ad")  # an export, and its package's metadata.json
    assert sorted(p.exports[-1].assets) == sorted([pic.id, film.id])
    assert sorted(p.exports.to_pandas()["assets"].iloc[-1]) == sorted([pic.id, film.id])
    doc = json.loads((Path(packed.loc[0, "folder"]) / "metadata.json").read_text())
    assert sorted(doc["assets"]) == sorted([pic.id, film.id])
