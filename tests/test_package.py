"""Distribution packages (`p.package`): what an agency hands to whoever uploads the ad."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

import nbvideo as nv
from nbvideo.deliver import package as package_mod
from nbvideo.deliver.package import PackageCheckFailed
from nbvideo.media.ffmpeg import probe

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="the offline voice needs espeak-ng (make test installs it)")


@pytest.mark.slow
@needs_espeak
def test_package_writes_a_folder_and_zip_per_platform(rendered: nv.Project) -> None:
    p = rendered
    p.finish(brand="trailhead", voice="narrator-f", music="bed")
    meta = p.set_metadata(hashtags=["trailrunning", "#hiking"], link="https://example.com/shoe")
    df = p.package(["tiktok", "youtube", "web"], name="launch", accept=True)
    assert list(df["preset"]) == ["tiktok", "youtube", "web"]
    for row in df.itertuples():
        folder, archive = Path(row.folder), Path(row.zip)
        assert folder.parent == p.path / "packages" and folder.name == f"launch-{row.preset}"
        names = {f.name for f in folder.iterdir()}
        assert {f"launch-{row.preset}.mp4", "poster.jpg", "captions.srt", "captions.vtt",
                "metadata.json", "upload.txt"} <= names
        info = probe(folder / f"launch-{row.preset}.mp4")
        record = next(r for r in p.exports if r.preset == row.preset)
        # the film plus the kit's end card, at the platform's size, with the voice and music
        assert info.duration_s == pytest.approx(record.duration_s, abs=0.05)
        assert info.duration_s > p.state.brief.duration_s and info.has_audio
        doc = json.loads((folder / "metadata.json").read_text())
        assert (doc["video"]["width"], doc["video"]["height"]) == (info.width, info.height) == (
            record.width, record.height)
        with zipfile.ZipFile(archive) as zf:
            assert sorted(zf.namelist()) == sorted(f"{folder.name}/{n}" for n in names)
            video = zf.read(f"{folder.name}/launch-{row.preset}.mp4")
        assert video == (folder / f"launch-{row.preset}.mp4").read_bytes()
        # the captions are the export's, cue for cue
        export_srt = next(p.path / s for r in p.exports if r.preset == row.preset
                          for s in r.sidecars if s.endswith(".srt"))
        assert (folder / "captions.srt").read_text() == export_srt.read_text()
    tiktok = json.loads((Path(df.loc[0, "folder"]) / "metadata.json").read_text())["fields"]
    assert set(tiktok) == {"caption", "video_cover_timestamp_ms", "video"}
    assert tiktok["caption"].startswith(meta.title)
    assert "#trailrunning #hiking" in tiktok["caption"] and meta.link in tiktok["caption"]
    youtube = json.loads((Path(df.loc[1, "folder"]) / "metadata.json").read_text())["fields"]
    assert youtube["title"] == meta.title and youtube["tags"][:2] == ["trailrunning", "hiking"]
    assert youtube["thumbnail"] == "poster.jpg" and youtube["captions"] == "captions.srt"
    sheet = (Path(df.loc[1, "folder"]) / "upload.txt").read_text()
    assert "YouTube upload" in sheet and meta.title in sheet
    assert "made_for_kids:\n(choose in the upload form)" in sheet
    embed = (Path(df.loc[2, "folder"]) / "embed.html").read_text()
    assert '<track kind="captions" src="captions.vtt"' in embed


def test_metadata_is_drafted_then_edited_and_survives_reopen(rendered: nv.Project) -> None:
    p = rendered
    p.finish(brand="trailhead")
    draft = p.metadata
    assert draft.title == (p.state.storyboard_title or p.name)
    assert draft.description and draft.hashtags and all(t.startswith("#") for t in draft.hashtags)
    assert p.state.metadata is None  # a draft is not saved until edited
    p.set_metadata(title="Storm-proof trails", hashtags=["rain", "Rain", "#trail"])
    path = p.path
    p.close()
    again = nv.Project.open(path)
    try:
        assert again.metadata.title == "Storm-proof trails"
        assert again.metadata.hashtags == ["#rain", "#trail"]  # one '#', no duplicates
        assert again.metadata.description == draft.description  # kept from the draft
    finally:
        again.close()


def test_bad_metadata_names_the_field_and_keeps_what_was_saved(rendered: nv.Project) -> None:
    p = rendered
    p.set_metadata(title="Kept")
    with pytest.raises(nv.InvalidInput, match="set_metadata: link"):
        p.set_metadata(link="not a url")
    with pytest.raises(nv.InvalidInput, match="set_metadata: hashtags.0"):
        p.set_metadata(hashtags=["two words"])
    with pytest.raises(nv.InvalidInput, match="set_metadata: colour"):
        p.set_metadata(colour="red")
    with pytest.raises(nv.InvalidInput, match="set_metadata: language"):
        p.set_metadata(language="German")
    assert p.metadata.title == "Kept"
    assert json.loads((p.path / "project.json").read_text())["metadata"]["title"] == "Kept"


def test_platform_limits_are_checked_before_anything_renders(rendered: nv.Project) -> None:
    p = rendered
    p.set_metadata(title="x" * 101, hashtags=[f"tag{i}" for i in range(31)])
    with pytest.raises(PackageCheckFailed) as err:
        p.package(["youtube", "reels", "tiktok"], accept=True)
    msg = str(err.value)
    assert "YouTube: title is 101 characters; the limit is 100" in msg
    assert "Instagram Reels: hashtags: 31 given; the limit is 30" in msg
    assert "TikTok" not in msg  # a 101-character title is fine in a 2200-character caption
    assert not p.exports and not (p.path / "packages").exists()
    p.set_metadata(title="Rain <or> shine", hashtags=["trail"])
    with pytest.raises(PackageCheckFailed, match="title contains < >"):
        p.package("shorts", accept=True)
    with pytest.raises(nv.InvalidInput, match="presets: vimeo not known; choose from"):
        p.package(["vimeo"])
    p.set_metadata(description="d" * 2190)
    with pytest.raises(PackageCheckFailed, match=r"TikTok: caption .* is 22\d\d UTF-16 units"):
        p.package("tiktok")


def test_a_video_over_the_platform_limit_is_not_packaged(rendered: nv.Project,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    small = package_mod.FORMS["web"].model_copy(update={"video_max_bytes": 1000})
    monkeypatch.setitem(package_mod.FORMS, "web", small)
    with pytest.raises(PackageCheckFailed, match=r"Web MP4: the video is .* MB; the limit is"):
        rendered.package("web", accept=True)
    assert rendered.exports  # the export itself stands
    assert not any((rendered.path / "packages").glob("ad-web*"))


def test_tiktok_counts_its_caption_in_utf16_units_as_it_says_instagram_in_characters() -> None:
    from nbvideo.deliver.package import check_metadata
    from nbvideo.model.state import Metadata

    meta = Metadata(title="Trail shoe", description="👟" * 1150)  # 1150 chars, 2300 units
    assert any("TikTok: caption" in m and "UTF-16 units" in m
               for m in check_metadata(meta, "tiktok"))
    assert check_metadata(meta, "reels") == []
    assert check_metadata(Metadata(title="Trail", description="é" * 2000), "tiktok") == []
