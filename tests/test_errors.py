"""One error tree: whatever goes wrong, what reaches a user is an `nv.NbvideoError` that says
what and where (issue 16). Broken media files, ffmpeg failures, cancels, provider faults and
the internal exceptions that must never escape."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import nbvideo as nv
from nbvideo.media.ffmpeg import FFmpegError, RenderCanceled, ffmpeg_exe, open_image, probe
from nbvideo.runtime.jobs import Job


def _mp4(path: Path, seconds: int = 1) -> Path:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc=size=320x240:rate=30:duration={seconds}", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


# --------------------------------------------------------------------------- the tree

def test_ffmpeg_failures_and_cancels_are_nbvideo_errors() -> None:
    assert issubclass(FFmpegError, nv.RenderFailed) and issubclass(nv.RenderFailed, nv.NbvideoError)
    assert issubclass(RenderCanceled, nv.Canceled) and issubclass(nv.Canceled, nv.NbvideoError)


def test_an_ffmpeg_error_keeps_its_fields_across_a_process_boundary() -> None:
    """Campaign workers send errors back pickled: the type and where it broke survive."""
    err = FFmpegError(1, ["Unrecognized option 'x'"], ["-x"], step="mux", scene="s1")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is FFmpegError and back.returncode == 1 and back.step == "mux"
    assert str(back) == str(err)
    assert str(err).startswith("render failed (scene s1, step mux): ffmpeg exited with code 1")


def test_nested_steps_name_the_output_and_the_step_that_broke() -> None:
    from nbvideo.errors import render_step

    with pytest.raises(nv.RenderFailed) as err:
        with render_step("export 9:16"), render_step("mux"):
            raise FFmpegError(1, ["Invalid argument"], [])
    assert err.value.step == "export 9:16 / mux"
    assert str(err.value).startswith("render failed (step export 9:16 / mux): ffmpeg exited")


# --------------------------------------------------------------------------- broken media

@pytest.mark.parametrize("damage", ["random bytes", "cut in half", "header only"])
@pytest.mark.parametrize("count_frames", [True, False])
def test_a_corrupt_clip_is_invalid_input_naming_the_file(tmp_path: Path, damage: str,
                                                         count_frames: bool) -> None:
    data = _mp4(tmp_path / "ok.mp4").read_bytes()
    bad = tmp_path / "scene-s1-take2.mp4"
    bad.write_bytes({"random bytes": os.urandom(5000), "cut in half": data[: len(data) // 2],
                     "header only": data[:200]}[damage])
    with pytest.raises(nv.InvalidInput, match="scene-s1-take2.mp4 is not a readable video"):
        probe(bad, count_frames=count_frames)


def test_exporting_a_project_with_a_corrupt_clip_names_the_clip(rendered: nv.Project) -> None:
    clip = rendered.scene(2).clip_path
    assert clip is not None
    clip.write_bytes(os.urandom(4096))
    with pytest.raises(nv.NbvideoError, match=f"{clip.name} is not a readable video"):
        rendered.export("ad", formats=["16:9"])


def test_exporting_after_a_clip_was_deleted_names_the_clip(rendered: nv.Project) -> None:
    from nbvideo.errors import MediaMissing

    clip = rendered.scene(1).clip_path
    assert clip is not None
    clip.unlink()
    with pytest.raises(MediaMissing, match=f"{clip.name} does not exist") as err:
        rendered.export("ad", formats=["16:9"])
    assert isinstance(err.value, nv.InvalidInput) and isinstance(err.value, FileNotFoundError)


def test_an_ffmpeg_failure_in_an_export_names_the_step_and_ffmpegs_last_lines(
        rendered: nv.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbvideo.render import engine as render
    real = render.run_ffmpeg
    monkeypatch.setattr(render, "run_ffmpeg",
                        lambda args, **kw: real([*args[:-1], "-no_such_option", args[-1]], **kw))
    with pytest.raises(nv.RenderFailed) as err:
        rendered.export("ad", formats=["16:9"], smart=False)
    assert err.value.step == "export 16:9"
    assert any("no_such_option" in line for line in err.value.stderr_tail)
    assert str(err.value).startswith("render failed (step export 16:9): ffmpeg exited")
    assert "no_such_option" in str(err.value)


@pytest.mark.parametrize("damage", ["random bytes", "truncated", "empty"])
def test_a_broken_image_is_invalid_input_naming_the_file(tmp_path: Path, damage: str) -> None:
    Image.new("RGB", (200, 100), (200, 30, 30)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    bad = tmp_path / "logo.png"
    bad.write_bytes({"random bytes": os.urandom(300), "truncated": data[:-40],
                     "empty": b""}[damage])
    with pytest.raises(nv.InvalidInput, match="logo.png is not a readable logo"):
        open_image(bad, "logo")


def test_a_broken_logo_on_a_local_frame_names_the_logo(tmp_path: Path) -> None:
    from nbvideo.providers.base import FrameRequest
    from nbvideo.providers.local.frames import draw_frame

    logo = tmp_path / "brand-logo.png"
    logo.write_bytes(b"<html>not an image</html>")
    req = FrameRequest(beat="hook", description="a boot in a creek", visual_prompt="boot, creek",
                       shot="close-up", camera="push-in", aspect="16:9", width=320, height=180,
                       logo=logo)
    with pytest.raises(nv.InvalidInput, match="brand-logo.png is not a readable logo"):
        draw_frame(req)


def test_a_decompression_bomb_is_refused_naming_the_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "huge.png"
    Image.new("RGB", (400, 400)).save(big)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 400x400 is over twice this
    with pytest.raises(nv.InvalidInput, match="huge.png is not a readable image"):
        open_image(big)


def test_a_truncated_storyboard_frame_is_named_by_the_review_sheet(rendered: nv.Project) -> None:
    frame = rendered.scene(1).frame_path
    assert frame is not None
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) // 2])
    with pytest.raises(nv.InvalidInput, match=f"{frame.name} is not a readable frame"):
        rendered.review_sheet()


# --------------------------------------------------------------------------- cancels

def _sleeping_job() -> Job[None]:
    async def work() -> None:
        await asyncio.sleep(30)

    return Job("clips", 1).start(work())


def test_a_canceled_job_raises_canceled_from_wait_and_await() -> None:
    job = _sleeping_job()
    assert job.cancel()
    with pytest.raises(nv.Canceled, match="job clips was canceled"):
        job.wait(10)
    assert job.state == "canceled"

    other = _sleeping_job()

    async def await_it() -> None:
        asyncio.get_running_loop().call_later(0.05, other.cancel)
        await other

    with pytest.raises(nv.Canceled):
        asyncio.run(await_it())


def test_a_failed_job_raises_the_error_it_failed_with() -> None:
    async def work() -> None:
        raise FFmpegError(1, ["Conversion failed!"], [], step="animatic")

    job = Job("clips", 1).start(work())
    with pytest.raises(FFmpegError) as err:
        job.wait(10)
    assert err.value.step == "animatic" and job.state == "failed"


# --------------------------------------------------------------------------- providers

def test_provider_errors_say_whether_to_try_again() -> None:
    from nbvideo.providers.base import PredictionFailed, ProviderAPIError, Ticket, WaitTimeout
    from nbvideo.providers.download import URLExpired

    assert ProviderAPIError("x", status=503).transient
    assert ProviderAPIError("x", status=429).transient
    assert ProviderAPIError("x", status=None).transient  # no answer at all: the network
    assert not ProviderAPIError("x", status=401).transient
    assert not ProviderAPIError("x", status=422).transient
    assert not URLExpired("x").transient
    ticket = Ticket(id="p1", model="m", status="failed")
    assert PredictionFailed("x", ticket).transient and WaitTimeout("x", ticket).transient


def test_provider_errors_keep_their_type_and_fields_across_a_process_boundary() -> None:
    from nbvideo.providers.base import PredictionFailed, ProviderAPIError, Ticket

    failed = pickle.loads(pickle.dumps(PredictionFailed("CUDA out of memory",
                                                        Ticket(id="p1", model="m"))))
    assert type(failed) is PredictionFailed and failed.ticket.id == "p1" and failed.transient
    refused = pickle.loads(pickle.dumps(ProviderAPIError("bad token", status=401)))
    assert refused.status == 401 and not refused.transient and str(refused) == "bad token"


def test_internal_exceptions_are_private() -> None:
    from nbvideo.providers import openai_plan, replicate_http
    from nbvideo.render import smart_render

    for mod, name in ((smart_render, "SmartUnsupported"), (replicate_http, "HTTPStatus"),
                      (openai_plan, "Unusable")):
        assert not hasattr(mod, name), f"{mod.__name__}.{name} should be underscore-named"
        assert issubclass(getattr(mod, f"_{name}"), Exception)


def test_a_5xx_from_replicate_escapes_as_a_transient_provider_error(tmp_path: Path) -> None:
    from nbvideo.providers.replicate import ReplicateVideo
    from tests.doubles.replicate_double import start_replicate_double
    from tests.test_replicate import TOKEN, clip_req

    frame = tmp_path / "f.png"
    Image.new("RGB", (1280, 720), (90, 120, 60)).save(frame)
    double = start_replicate_double(TOKEN)
    try:
        video = ReplicateVideo("wan-2.5-i2v-fast", api_token=TOKEN, base_url=double.base_url,
                               typical_latency_s=0.1, sync_wait_s=0, backoff_s=0.01, retries=2,
                               allowed_download_hosts={"127.0.0.1"})
        double.inject("create", 503, times=2)  # both attempts
        with pytest.raises(nv.NbvideoError) as err:
            asyncio.run(video.submit(clip_req(frame)))
        assert isinstance(err.value, nv.ProviderError) and err.value.transient
        assert "HTTP 503" in str(err.value) and TOKEN not in str(err.value)
        double.inject("create", 422, times=1)
        with pytest.raises(nv.ProviderError) as refused:
            asyncio.run(video.submit(clip_req(frame)))
        assert not refused.value.transient
    finally:
        double.stop()


def test_an_unusable_plan_escapes_as_a_permanent_provider_error() -> None:
    from tests.doubles.openai_double import default_storyboard, start_openai_double
    from tests.test_openai import KEY, context, planner

    double = start_openai_double(api_key=KEY)
    try:
        sb = default_storyboard()
        sb["scenes"] = sb["scenes"][:2]  # too few scenes for a 60 s ad, twice
        double.push(sb)
        double.push(sb)
        with pytest.raises(nv.NbvideoError) as err:
            asyncio.run(planner(double).storyboard(context(duration_s=60)))
        assert isinstance(err.value, nv.ProviderError) and not err.value.transient
        assert "needs at least" in str(err.value)
    finally:
        double.stop()


def test_a_damaged_smart_cache_falls_back_to_the_full_export(tmp_path: Path) -> None:
    """The smart path's own failure (here a mezzanine damaged on disk) never escapes: the
    export is made the full way and says why."""
    from nbvideo.render.engine import RenderClip, RenderSpec
    from nbvideo.render.smart_render import export_smart

    clips = [RenderClip(path=_mp4(tmp_path / f"c{i}.mp4", 3), duration_s=3) for i in range(2)]

    def spec(name: str) -> RenderSpec:
        return RenderSpec(aspect="16:9", resolution="720p", fps=30, out=tmp_path / name,
                          preset="ultrafast")

    first = export_smart(clips, spec("a.mp4"), tmp_path / "cache")
    assert first.mode == "smart"
    for mezz in (tmp_path / "cache" / "mezzanine").rglob("*.mp4"):
        mezz.write_bytes(os.urandom(2048))
    again = export_smart(clips, spec("b.mp4"), tmp_path / "cache")
    assert again.mode == "full" and again.fallback
    assert probe(again.path).frames == 180


# --------------------------------------------------------------------------- the CLI

def _cli(monkeypatch: pytest.MonkeyPatch, exc: BaseException, *args: str) -> Any:
    from click.testing import CliRunner

    from nbvideo import cli
    from nbvideo.project import Project

    def boom(*_a: Any, **_k: Any) -> Any:
        raise exc

    monkeypatch.setattr(Project, "open", boom)
    return CliRunner().invoke(cli.main, [*args, "costs", "some/project"])


def _cases() -> list[tuple[BaseException, int]]:
    from nbvideo.edit.versions import AssetsMissing
    from nbvideo.keys import MissingKey
    from nbvideo.providers.base import ProviderAPIError, ProviderOutputError
    from nbvideo.store.history import HistoryError

    return [
        (nv.InvalidInput("aspect: must be one of 16:9, got '21:9'"), 2),
        (HistoryError("no history event #9"), 2),
        (nv.ProjectNotFound("no nbvideo project at some/project"), 3),
        (nv.ProjectCorrupt("project.json is not valid JSON"), 3),
        (nv.SchemaTooNew("written by a newer nbvideo"), 3),
        (AssetsMissing("assets missing"), 3),
        (MissingKey("OPENAI_API_KEY is not set"), 3),
        (nv.ProjectLocked("open for writing in another process"), 4),
        (nv.ProjectStale("changed since it was opened"), 4),
        (nv.PhaseNotReady("run p.generate_clips() first"), 5),
        (nv.BudgetExceeded("refused before sending", budget="project", limit_usd=1.0), 6),
        (ProviderAPIError("Replicate refused the create (HTTP 401)", status=401), 7),
        (ProviderOutputError("OpenAI gave no usable storyboard after 2 attempts"), 7),
        (ProviderAPIError("Replicate create failed with HTTP 503: busy", status=503), 8),
        (FFmpegError(1, ["[mp4] moov atom not found", "Conversion failed!"], [], step="mux"), 9),
        (nv.Canceled("job clips was canceled"), 130),
        (RenderCanceled("render canceled; ffmpeg was stopped"), 130),
    ]


@pytest.mark.parametrize("case", range(len(_cases())))
def test_each_error_is_one_line_on_stderr_with_its_exit_code(
        monkeypatch: pytest.MonkeyPatch, case: int) -> None:
    exc, code = _cases()[case]
    res = _cli(monkeypatch, exc)
    assert res.exit_code == code, res.stderr
    assert res.stdout == "" and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr
    first = str(exc).splitlines()[0]
    assert first in res.stderr


def test_a_render_failure_shows_ffmpegs_last_lines_on_its_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    res = _cli(monkeypatch, FFmpegError(1, ["moov atom not found", "Conversion failed!"], [],
                                        step="export 9:16", scene="s1a2b3c4"))
    assert res.exit_code == 9
    assert res.stderr == ("error: render failed (scene s1a2b3c4, step export 9:16): ffmpeg "
                          "exited with code 1: moov atom not found | Conversion failed!\n")


def test_an_unexpected_error_is_an_internal_error_with_its_own_code(
        monkeypatch: pytest.MonkeyPatch) -> None:
    res = _cli(monkeypatch, KeyError("scenes"))
    assert res.exit_code == 70 and res.stderr.count("\n") == 1
    assert res.stderr.startswith("internal error: KeyError: 'scenes'")
    assert "rerun with --debug" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("exc", [nv.ProjectLocked("open elsewhere"), KeyError("scenes")])
def test_debug_adds_the_traceback_and_keeps_the_exit_code(
        monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    plain = _cli(monkeypatch, exc)
    debug = _cli(monkeypatch, exc, "--debug")
    assert debug.exit_code == plain.exit_code != 0
    assert "Traceback (most recent call last)" in debug.stderr and "in boom" in debug.stderr
    assert debug.stderr.rstrip().endswith(plain.stderr.rstrip())


def test_the_cli_names_a_corrupt_clip_on_one_line_and_exits_2(rendered: nv.Project) -> None:
    from click.testing import CliRunner

    from nbvideo import cli

    clip = rendered.scene(1).clip_path
    assert clip is not None
    clip.write_bytes(os.urandom(4096))
    rendered.close()
    res = CliRunner().invoke(cli.main, ["export", str(rendered.path)])
    assert res.exit_code == 2, res.stderr
    line = res.stderr.split("\r")[-1]  # after the export's progress bar, cleared
    assert line.startswith("error: ") and line.count("\n") == 1
    assert f"{clip.name} is not a readable video" in line and "Traceback" not in res.stderr
