"""4K: exports at 2160p, a user's own clip imported as a scene's clip, 540p editing proxies.

Rendering tests are slow and kept short: a second and a half of 4K per clip at 12 fps, ultrafast."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

import nbvideo as nv
from nbvideo.errors import InvalidInput, PathEscape
from nbvideo.media import proxy
from nbvideo.media.ffmpeg import ffmpeg_exe, probe
from nbvideo.model.presets import ExportCheckFailed
from nbvideo.model.state import frame_size
from nbvideo.render.sources import scale_factor
from nbvideo.store import imports

FPS = 12
BRIEF = "8s ad for a waterproof trail shoe for weekend hikers"


def _video(path: Path, w: int, h: int, seconds: float = 1.5) -> Path:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size={w}x{h}:rate={FPS}:duration={seconds}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
                   check=True)
    return path


@pytest.fixture(scope="module")
def uhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a 1-pixel checkerboard: fine detail a 540p proxy cannot hold
    return _checker(tmp_path_factory.mktemp("src") / "uhd.mp4", 3840, 2160)


def _checker(path: Path, w: int, h: int, seconds: float = 1.5) -> Path:
    """A 4K clip of a one-pixel checkerboard (the finest detail there is), near-lossless."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"color=c=black:s={w}x{h}:r={FPS}:d={seconds}",
                    "-vf", "geq=lum='if(mod(X+Y\\,2)\\,235\\,16)':cb=128:cr=128",
                    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


def _project(root: Path, aspect: str = "16:9") -> nv.Project:
    p = nv.Project.open(root, brief=BRIEF, aspect=aspect, duration_s=5.0, resolution="720p",
                        fps=FPS)
    p.storyboard()
    return p


def _detail(path: Path) -> float:
    """Mean absolute difference between horizontally neighbouring luma pixels, mid-film."""
    with av.open(str(path)) as c:
        frame = next(c.decode(c.streams.video[0]))
        y = frame.to_ndarray(format="gray").astype(np.int16)
    return float(np.abs(np.diff(y[:256, :256], axis=1)).mean())


def test_frame_sizes_at_2160p() -> None:
    assert frame_size("16:9", "2160p") == (3840, 2160)
    assert frame_size("9:16", "2160p") == (2160, 3840)
    assert frame_size("1:1", "2160p") == (2160, 2160)
    assert frame_size("4:5", "2160p") == (2160, 2700)
    assert frame_size("16:9", "1080p") == (1920, 1080)  # unchanged


def test_scale_factor_follows_fit() -> None:
    assert scale_factor((3840, 2160), (3840, 2160), "crop") == 1.0
    assert scale_factor((1920, 1080), (3840, 2160), "crop") == 2.0
    assert scale_factor((3840, 2160), (2160, 3840), "crop") == pytest.approx(3840 / 2160)
    assert scale_factor((3840, 2160), (2160, 3840), "pad") == pytest.approx(2160 / 3840)


def test_proxy_sizes() -> None:
    assert proxy.needs_proxy(3840, 2160) and proxy.needs_proxy(2160, 3840)
    assert not proxy.needs_proxy(1920, 1080) and not proxy.needs_proxy(1280, 720)
    assert proxy.proxy_size(3840, 2160) == (960, 540)
    assert proxy.proxy_size(2160, 3840) == (540, 960)
    assert proxy.proxy_size(2160, 2700) == (540, 676)


def test_export_refuses_a_resolution_it_does_not_know(rendered: nv.Project) -> None:
    with pytest.raises(InvalidInput, match="720p, 1080p, 2160p"):
        rendered.export("x", resolution="4320p")


# ----------------------------------------------------------------------- bad imports
def _nothing_copied(p: nv.Project) -> None:
    folder = p.path / "assets" / "clips" / "imported"
    assert not folder.exists() or not any(folder.iterdir())
    assert all(t.provider != "import" for s in p.scenes for t in s.clip_takes)


def test_import_refuses_a_file_that_is_not_a_video(fresh: nv.Project, tmp_path: Path) -> None:
    fresh.storyboard()
    fake = tmp_path / "notes.mp4"
    fake.write_bytes(b"this is not a video at all" * 100)
    with pytest.raises(InvalidInput, match="is not a playable video"):
        fresh.import_clip(1, fake)
    still = tmp_path / "still.mp4"
    from PIL import Image

    Image.new("RGB", (64, 64), "red").save(tmp_path / "still.png")
    os.replace(tmp_path / "still.png", still)
    with pytest.raises(InvalidInput, match=r"is a still image \(png\), not a video"):
        fresh.import_clip(1, still)
    text = tmp_path / "clip.txt"
    text.write_text("hello")
    with pytest.raises(InvalidInput, match=r"is a \.txt"):
        fresh.import_clip(1, text)
    _nothing_copied(fresh)


def test_import_refuses_symlinks_and_paths_outside(fresh: nv.Project, tmp_path: Path) -> None:
    fresh.storyboard()
    real = _video(tmp_path / "real.mp4", 64, 36, seconds=1.0)
    link = tmp_path / "link.mp4"
    link.symlink_to(real)
    with pytest.raises(InvalidInput, match="symlink"):
        fresh.import_clip(1, link)
    inside = fresh.path / "footage"
    inside.mkdir()
    (inside / "in.mp4").symlink_to(real)
    with pytest.raises(InvalidInput, match="symlink"):
        fresh.import_clip(1, "footage/in.mp4")
    with pytest.raises(PathEscape, match=r"'\.\.'"):
        fresh.import_clip(1, "../real.mp4")
    with pytest.raises(PathEscape, match="outside"):
        imports.import_video(real, fresh.path, "assets/clips/imported", field="clip",
                             roots=[("the project folder", fresh.path)])
    _nothing_copied(fresh)


def test_import_refuses_a_file_over_the_cap(fresh: nv.Project, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fresh.storyboard()
    real = _video(tmp_path / "big.mp4", 64, 36, seconds=1.0)
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", real.stat().st_size - 1)
    with pytest.raises(InvalidInput, match=r"is [0-9.]+ MB; the limit is [0-9.]+ MB"):
        fresh.import_clip(1, real)
    _nothing_copied(fresh)
    assert fresh.costs.empty or not (fresh.costs["model"] == "import").any()


# ----------------------------------------------------------------------- 4K renders
@pytest.mark.slow
def test_import_4k_makes_a_proxy_the_preview_reads_and_the_export_ignores(
        tmp_path: Path, uhd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _project(tmp_path / "p")
    try:
        takes = [p.import_clip(i, uhd) for i in range(1, len(p.scenes) + 1)]
        t = takes[0]
        assert (t.provider, t.width, t.height, t.cost_usd) == ("import", 3840, 2160, 0.0)
        assert p.scenes[0].clip.id == t.id
        rows = p.costs[p.costs["model"] == "import"]
        assert len(rows) == len(p.scenes) and rows["cost_usd"].sum() == 0
        # the proxy: 960x540, same frames and duration
        px = p.scene(1).clip_proxy
        assert px is not None and px.is_file() and "cache/proxies" in px.as_posix()
        src_info, px_info = probe(uhd), probe(px)
        assert (px_info.width, px_info.height) == (960, 540)
        assert px_info.frames == src_info.frames
        assert px_info.duration_s == pytest.approx(src_info.duration_s, abs=1 / FPS)
        table = p.takes()
        row = table[table["take"] == t.id].iloc[0]
        assert row["size"] == "3840x2160" and row["proxy"] == px.relative_to(p.path).as_posix()
        # the clip preview of the views reads the proxy, not the 4K original
        from nbvideo.widgets import media

        read: list[Path] = []
        real_run = media._run_preview
        monkeypatch.setattr(media, "_run_preview",
                            lambda src, out, w, h: (read.append(src), real_run(src, out, w, h)))
        assert media.preview(p.path, p.scenes[0].clip)
        assert read == [px]
        # generate_clips() keeps the imported clips: nothing to make
        assert p.generate_clips().wait() == []
        assert p.scenes[0].clip.id == t.id
        # the export reads the originals: 3840x2160 and the checkerboard's detail intact
        rec = p.export("uhd", resolution="2160p")[0]
        out = p.path / rec.path
        info = probe(out)
        assert (info.width, info.height) == (3840, 2160)
        assert info.duration_s == pytest.approx(p.timeline.duration_s, abs=1 / FPS)
        assert rec.warnings == []
        assert _detail(out) > 100  # the proxy, upscaled, would be a flat grey (~0)
        assert _detail(px) < 20
    finally:
        p.close()


@pytest.mark.slow
def test_vertical_2160p_export_probes_2160x3840(tmp_path: Path) -> None:
    p = _project(tmp_path / "v", aspect="9:16")
    try:
        src = _video(tmp_path / "v4k.mp4", 2160, 3840)
        for i in range(1, len(p.scenes) + 1):
            p.import_clip(i, src)
        rec = p.export("v", formats=["9:16"], resolution="2160p")[0]
        info = probe(p.path / rec.path)
        assert (info.width, info.height) == (2160, 3840)
        assert info.duration_s == pytest.approx(p.timeline.duration_s, abs=1 / FPS)
    finally:
        p.close()


@pytest.mark.slow
def test_2160p_from_1080p_sources_stops_unless_accepted(tmp_path: Path) -> None:
    p = _project(tmp_path / "low")
    try:
        src = _video(tmp_path / "hd.mp4", 1920, 1080)
        for i in range(1, len(p.scenes) + 1):
            p.import_clip(i, src)
        n = len(p.scenes)
        with pytest.raises(ExportCheckFailed) as err:
            p.export("low", resolution="2160p")
        (v,) = err.value.violations
        assert v.code == "upscaled" and v.severity == "warning"
        assert f"{n} of {n} scenes are below 2160p" in v.message
        assert "scene 1 (" in v.message and "1920x1080, x2" in v.message
        assert not (p.path / "exports" / "low-16x9-2160p.mp4").exists()
        rec = p.export("low", resolution="2160p", accept=["upscaled"])[0]
        assert (rec.width, rec.height) == (3840, 2160)
        assert len(rec.warnings) == 1 and "would be upscaled" in rec.warnings[0]
        # 1080p from the same sources: no warning
        assert p.export("low", resolution="1080p")[0].warnings == []
    finally:
        p.close()
