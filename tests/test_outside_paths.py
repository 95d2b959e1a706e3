"""Paths named by kits, looks and finishing settings: confined to the project (or the kit's own
folder), symlinks included, and the right kind of file, refused when set with nothing saved
changed (issue 16, item 5)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.errors import InvalidInput, PathEscape
from nbvideo.store.brands import font_file, load_brand

BRIEF = "15s ad for a waterproof trail shoe for weekend hikers"


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (64, 24), (240, 120, 30, 255)).save(path)
    return path


@pytest.fixture
def project(tmp_path: Path) -> nv.Project:
    p = nv.Project.open(tmp_path / "p", brief=BRIEF, duration_s=15, fps=12)
    p.answer()
    png(tmp_path / "outside.png")  # a real image, but not the project's
    (p.path / "notes.png").write_text("not a picture at all\n")
    (p.path / "link.png").symlink_to(tmp_path / "outside.png")
    return p


# (value the user or a kit gives, the error, words the message must hold)
BAD: list[tuple[Callable[[Path], str], type[Exception], str]] = [
    (lambda t: str(t / "outside.png"), PathEscape, "is outside the project folder"),
    (lambda t: "../outside.png", PathEscape, "is outside the project folder"),
    (lambda t: "../../../../../../etc/hostname", PathEscape, "is outside the project folder"),
    (lambda t: "link.png", PathEscape, "is outside the project folder"),
    (lambda t: "notes.png", InvalidInput, "is not an image file (PNG, JPEG or WebP) that can "
                                          "be read (UnidentifiedImageError)"),
    (lambda t: "missing.png", InvalidInput, "not found"),
]


@pytest.mark.parametrize("field", ["reference_image", "logo"])
@pytest.mark.parametrize(("value", "error", "words"), BAD)
def test_a_look_file_from_outside_or_not_an_image_is_refused_and_nothing_is_saved(
        project: nv.Project, tmp_path: Path, field: str, value: Callable[[Path], str],
        error: type[Exception], words: str) -> None:
    p = project
    png(p.path / "shoe.png")
    p.set_look(reference_image="shoe.png")
    saved = (p.path / "project.json").read_bytes()
    with pytest.raises(error) as err:
        p.set_look(**{field: value(tmp_path)})
    assert f"look.{field}" in str(err.value) and words in str(err.value)
    assert (p.path / "project.json").read_bytes() == saved
    assert p.look is not None and p.look.reference_image == "shoe.png"


def kit_in(folder: Path, **fields: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"name": "Acme", "palette": ["#101010", "#ffcc00"], **fields}
    (folder / "acme.json").write_text(json.dumps(data))
    return folder / "acme.json"


@pytest.mark.parametrize(("value", "error", "words"), BAD)
def test_a_kit_logo_from_outside_its_folder_or_not_an_image_is_refused_at_finish(
        project: nv.Project, tmp_path: Path, value: Callable[[Path], str],
        error: type[Exception], words: str) -> None:
    p = project
    kits = p.path / "kits"
    kits.mkdir()
    for name in ("notes.png", "link.png"):  # the same traps, now beside the kit file
        shutil.move(p.path / name, kits / name)
    kit_in(kits, logo=value(tmp_path))  # '../outside.png' is in the project, not the kit folder
    saved = (p.path / "project.json").read_bytes()
    with pytest.raises(error) as err:
        p.finish(brand="kits/acme.json")
    msg = str(err.value)
    assert "brand 'Acme': logo" in msg and words.replace("project", "brand kit's") in msg
    assert (p.path / "project.json").read_bytes() == saved
    assert p.state.finishing.brand is None


def test_a_kit_file_outside_the_project_is_refused_at_finish(project: nv.Project,
                                                               tmp_path: Path) -> None:
    p = project
    png(tmp_path / "kit" / "mark.png")
    outside = kit_in(tmp_path / "kit", logo="mark.png")
    load_brand(outside)  # a fine kit in itself: copied into the project it would do
    saved = (p.path / "project.json").read_bytes()
    for value in (str(outside), "../kit/acme.json"):
        with pytest.raises(PathEscape, match="finish: brand .* is outside the project folder"):
            p.finish(brand=value)
    assert (p.path / "project.json").read_bytes() == saved


def test_a_kit_font_outside_its_folder_or_not_a_font_is_refused(tmp_path: Path) -> None:
    shutil.copy(font_file("league-spartan"), tmp_path / "Display.otf")
    kit = kit_in(tmp_path / "kit", fonts={"headline": "../Display.otf"})
    with pytest.raises(PathEscape, match="brand kit font '../Display.otf' is outside the "
                                         "brand kit's folder"):
        load_brand(kit)
    (tmp_path / "kit" / "Fake.ttf").write_text("not a font")
    kit = kit_in(tmp_path / "kit", fonts={"headline": "Fake.ttf"})
    with pytest.raises(InvalidInput, match="brand kit font 'Fake.ttf' is not a .ttf or .otf "
                                           "font file that can be read"):
        load_brand(kit)


def test_music_that_is_not_audio_is_refused_at_finish(project: nv.Project) -> None:
    p = project
    (p.path / "song.mp3").write_text("la la la")
    saved = (p.path / "project.json").read_bytes()
    with pytest.raises(InvalidInput, match="finish: music 'song.mp3' is not an audio file"):
        p.finish(music="song.mp3")
    (p.path / "tune.wav").symlink_to(p.path.parent / "outside.png")
    with pytest.raises(InvalidInput, match="outside the project folder"):
        p.finish(music="tune.wav")
    assert (p.path / "project.json").read_bytes() == saved


def test_a_kit_and_look_inside_the_project_still_export(rendered: nv.Project) -> None:
    p = rendered
    kits = p.path / "kits"
    kits.mkdir()
    shutil.copy(load_brand("volt").logo_path(), kits / "mark.png")
    kit_in(kits, logo="mark.png", end_card={"cta": "Go", "url": ""})
    png(p.path / "photos" / "shoe.png")
    p.finish(brand="kits/acme.json")
    p.set_look(reference_image="photos/shoe.png")
    assert p.look is not None and p.look.logo == str((kits / "mark.png").resolve())
    out = p.export("kit")
    assert len(out.paths) == 1 and out.paths[0].stat().st_size > 0
    # A bundled kit's logo (outside the project, in the package) is still fine for a look.
    p.finish(brand="trailhead")
    p.set_look(off=True)
    assert p.set_look() is not None and "trailhead" in (p.look.logo or "")  # type: ignore[union-attr]


def test_a_path_no_file_system_can_name_is_refused_by_the_gate_itself(tmp_path: Path) -> None:
    """The gate refuses it whoever calls it, not only callers whose text check came first."""
    from nbvideo.errors import PathEscape
    from nbvideo.store.confine import confined_file

    for bad in ("logo\x00.png", "\ud800.png"):
        with pytest.raises(PathEscape, match="no file name can hold"):
            confined_file(bad, field="look.logo", roots=[("the project folder", tmp_path)],
                          kind="image")
