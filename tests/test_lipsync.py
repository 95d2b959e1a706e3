"""Lip-synced scenes: a scene's clip of a person made to say its line, as a new chosen clip take.

Offline: the local animatic's drawn figure gets a mouth that opens with the line's loudness.
Paid: sync/lipsync-2 on the Replicate double over HTTP (inputs checked against the schema
read from its API page), through the money gate. The export hears a synced scene's line from
its clip, once."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import nbvideo as nv
from nbvideo.errors import InvalidInput, MediaMissing
from nbvideo.media.audio_io import decode, read_wav, write_wav
from nbvideo.media.ffmpeg import probe
from nbvideo.providers.base import LipSyncRequest
from nbvideo.providers.catalog import get_model, price
from nbvideo.providers.local.lipsync import envelope, face_at, mouth_box
from nbvideo.providers.replicate_lipsync import lipsync_input
from nbvideo.render import finishing
from nbvideo.sound import recorded
from tests.doubles.replicate_double import SCHEMAS, ReplicateDouble

# The fixture the Replicate double serves on its models endpoint (as every catalog model's).
FIXTURE = Path(__file__).parent / "fixtures" / "replicate_schemas" / "lipsync-2.json"
SMALL = dict(aspect="16:9", duration_s=8.0, resolution="720p", fps=12)
# A brief whose medium shots show the local planner's drawn figure (no known product).
BRIEF = "8s ad for a neighbourhood yoga studio, a teacher talks to camera"
LIPS = "sync/lipsync-2"


def schema() -> dict[str, Any]:
    """The recorded Input schema, with the page it was read from (`_source`, `_read`)."""
    data = json.loads(FIXTURE.read_text())
    inp = data["latest_version"]["openapi_schema"]["components"]["schemas"]["Input"]
    return {"_source": data["_source"], "_read": data["_read"], **inp}


def tone_wav(path: Path, seconds: float, rate: int = 48_000) -> Path:
    """A spoken-like test line: 220 Hz bursts whose loudness rises and falls (syllables)."""
    t = np.arange(int(seconds * rate)) / rate
    syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None)
    write_wav(path, 0.6 * syllables * np.sin(2 * np.pi * 220 * t))
    return path


def figure_scene(p: nv.Project) -> int:
    """The number of a scene with a voice line whose clip is a local animatic of the drawn
    figure."""
    from nbvideo.generate.lipsync import face_of

    rt = p.runtime
    for i, s in enumerate(rt.state.scenes, 1):
        if (s.clip is not None and s.voice_line.strip()
                and face_of(rt, s, s.clip)[0] is not None):
            return i
    raise AssertionError("no scene shows the figure")


# ------------------------------------------------------------------ schema and catalog (fast)

def test_the_inputs_sent_to_lipsync2_validate_against_the_schema_read_from_its_page() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    s = schema()
    assert s["_source"].startswith("https://replicate.com/sync/lipsync-2/") and s["_read"]
    req = LipSyncRequest(video_path=Path("v.mp4"), audio_path=Path("a.wav"), duration_s=5.0)
    sent = lipsync_input(req, "data:video/mp4;base64,AAAA", "data:audio/wav;base64,AAAA")
    jsonschema.validate(sent, {k: v for k, v in s.items() if not k.startswith("_")
                               and k != "output"})
    with pytest.raises(jsonschema.ValidationError):  # the fixture really constrains
        jsonschema.validate({**sent, "sync_mode": "stretch"}, s)
    # the double refuses exactly what the page does not list
    assert SCHEMAS[LIPS]["fields"] == set(s["properties"])
    assert SCHEMAS[LIPS]["required"] == set(s["required"])


def test_the_catalog_prices_lip_sync_with_its_source_and_date() -> None:
    spec = get_model("lipsync-2")
    assert (spec.provider, spec.kind, spec.ref) == ("replicate", "lipsync", LIPS)
    assert "sync.so" in spec.price_source and spec.price_date is not None
    assert price(spec, seconds=5.0).cost_usd == pytest.approx(0.25)
    assert get_model("local-lipsync").price_basis == "free"


def test_the_mouth_opens_with_loudness_and_follows_the_camera() -> None:
    rate, fps, n = 48_000, 12, 24
    t = np.arange(2 * rate) / rate
    loud = np.where(t < 1.0, 0.0, 0.5) * np.sin(2 * np.pi * 200 * t)
    env = envelope(loud[:, None].astype(np.float32), rate, n, fps)
    assert env[:12].max() == 0 and env[12:].min() > 0.9
    head = face_at((0.4, 0.2, 0.5, 0.4), "push-in", 0, n, 1280, 720)
    later = face_at((0.4, 0.2, 0.5, 0.4), "push-in", n - 1, n, 1280, 720)
    assert later[2] - later[0] > head[2] - head[0]  # pushed in: the head grows
    shut, wide = mouth_box(head, 0.0), mouth_box(head, 1.0)
    assert wide[3] - wide[1] > 4 * (shut[3] - shut[1])


def test_a_recording_path_is_refused_for_nul_dotdot_symlink_type_size_and_silence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = nv.Project.open(tmp_path / "p", brief=BRIEF, **SMALL)
    rt = p.runtime
    good = tone_wav(p.path / "line.wav", 1.0)
    with pytest.raises(InvalidInput, match="NUL"):
        recorded.take_in(rt, "line\x00.wav")
    with pytest.raises(InvalidInput, match=r"'\.\.'"):
        recorded.take_in(rt, "../p/line.wav")
    os.symlink(good, p.path / "link.wav")
    with pytest.raises(InvalidInput, match="symlink"):
        recorded.take_in(rt, "link.wav")
    with pytest.raises(MediaMissing, match="does not exist"):
        recorded.take_in(rt, "nowhere.wav")
    (p.path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInput, match="allowed|WAV"):
        recorded.take_in(rt, "notes.txt")
    (p.path / "fake.wav").write_bytes(b"RIFF but not really audio" * 40)
    with pytest.raises(InvalidInput, match="not audio"):
        recorded.take_in(rt, "fake.wav")
    write_wav(p.path / "quiet.wav", np.zeros(48_000))
    with pytest.raises(InvalidInput, match="no sound"):
        recorded.take_in(rt, "quiet.wav")
    monkeypatch.setattr(recorded, "MAX_RECORDING_BYTES", 1000)
    with pytest.raises(InvalidInput, match="limit"):
        recorded.take_in(rt, "line.wav")
    monkeypatch.undo()
    outside = tone_wav(tmp_path / "outside.wav", 1.0)
    wav, kept, secs = recorded.take_in(rt, outside)  # copied in, as 48 kHz mono
    assert kept.startswith("assets/voice/recorded/") and (p.path / kept).is_file()
    assert wav.is_relative_to(p.path) and secs == pytest.approx(1.0, abs=0.01)
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels()) == (48_000, 1)
    p.close()


# ------------------------------------------------------------------ offline, rendered (slow)

@pytest.fixture(scope="module")
def yoga_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("yoga")
    p = nv.Project.open(root / "yoga", brief=BRIEF, **SMALL)
    p.storyboard()
    p.generate_clips().wait()
    p.close()
    return root / "yoga"


@pytest.fixture
def yoga(yoga_template: Path, tmp_path: Path) -> Iterator[nv.Project]:
    shutil.copytree(yoga_template, tmp_path / "yoga")
    p = nv.Project.open(tmp_path / "yoga")
    yield p
    p.close()


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.float64) for f in c.decode(video=0)]


@pytest.mark.slow
def test_offline_lip_sync_moves_the_mouth_with_the_line_and_carries_it(
        yoga: nv.Project) -> None:
    p = yoga
    n = figure_scene(p)
    before = p.scene(n).clip
    assert before is not None
    p.finish(voice="narrator-f")
    take = p.scene(n).lip_sync().wait()
    assert p.scene(n).clip.id == take.id and take.model == "local-lipsync"
    about = take.inputs["lip_sync"]
    assert about["from_take"] == before.id and about["voice"] == "line"
    assert about["text"] == p.scene(n).voice_line.strip()
    info = probe(p.path / take.path)
    assert info.has_audio and info.duration_s == pytest.approx(before.duration_s, abs=0.05)
    assert info.frames == probe(p.path / before.path).frames
    # The picture changes only where the mouth is, and with the line's loudness.
    src, out = _frames(p.path / before.path), _frames(p.path / take.path)
    rt = p.runtime
    from nbvideo.generate.lipsync import face_of

    face, camera = face_of(rt, rt.state.scene(p.scene(n).id), before)
    assert face is not None
    samples, rate = read_wav(p.path / about["audio"])
    env = envelope(samples, rate, len(src), info.fps)
    change = []
    for i, (a, b) in enumerate(zip(src, out, strict=True)):
        x0, y0, x1, y1 = (round(v) for v in mouth_box(
            face_at(face, camera, i, len(src), info.width, info.height), 1.0))
        inside = np.abs(a[y0:y1, x0:x1] - b[y0:y1, x0:x1]).mean()
        whole = np.abs(a - b).sum() - np.abs(a[y0:y1, x0:x1] - b[y0:y1, x0:x1]).sum()
        assert whole / a.size < 1.0  # outside the mouth: the source's own picture
        change.append(inside)
    assert env.max() > 0.9 and env.min() == 0.0
    assert np.corrcoef(env, change)[0, 1] > 0.8
    # The clip's audio is the line, `VOICE_LEAD_S` in.
    heard = decode(p.path / take.path, channels=1)[:, 0]
    lead = int(finishing.VOICE_LEAD_S * 48_000)
    assert np.abs(heard[: lead - 2400]).max() < 0.02 and np.abs(heard).max() > 0.1


@pytest.mark.slow
def test_a_lip_synced_scene_is_in_the_export_with_its_line_laid_once(
        yoga: nv.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = yoga
    n = figure_scene(p)
    sid = p.scene(n).id
    p.finish(voice="narrator-f")
    take = p.lip_sync(n).wait()
    placed: list[list[tuple[float, str]]] = []
    real = finishing.place_voice

    def spy(lines: Any, *args: Any, **kwargs: Any) -> Any:
        placed.append([(t, Path(w).name) for t, w in lines])
        return real(lines, *args, **kwargs)

    monkeypatch.setattr(finishing, "place_voice", spy)
    out = p.export("ad").paths[0]
    info = probe(out)
    assert info.has_audio and info.duration_s == pytest.approx(p.timeline.duration_s, abs=0.1)
    entry = next(e for e in p.timeline if e.scene.id == sid)
    at = round(entry.start_s + finishing.VOICE_LEAD_S, 6)
    here = [name for t, name in placed[-1] if abs(t - at) < 1e-6]
    synced = p.scene(n).clip
    assert synced is not None and "lip_sync" in synced.inputs
    assert synced.inputs["lip_sync"]["audio"] == take.inputs["lip_sync"]["audio"]
    # one line at that moment, and it is the clip's own audio, not the voice-over's WAV too
    assert len(here) == 1 and here[0].startswith(f"clip-{synced.id}-")
    # The scene's voice-over WAV was not laid anywhere in the film.
    spoken = finishing.line_request(p.runtime, p.runtime.state.scene(sid), "local",
                                    "espeak-ng")[2].name
    assert all(name != spoken for _t, name in placed[-1])
    # The film's audio in that scene is the clip's line: loud where the clip speaks.
    film = decode(out, channels=1)[:, 0]
    a = int((entry.start_s + finishing.VOICE_LEAD_S) * 48_000)
    line_s = synced.inputs["lip_sync"]["line_s"]
    assert np.sqrt(np.mean(film[a:a + int(line_s * 48_000)] ** 2)) > 0.02
    # reopened, the project keeps the synced take chosen
    p.close()
    again = nv.Project.open(p.path)
    assert again.scene(n).clip.id == synced.id
    assert again.takes(n)["lip_sync_of"].notna().any()
    again.close()


@pytest.mark.slow
def test_lip_sync_is_a_job_whose_take_is_chosen_when_it_finishes(yoga: nv.Project) -> None:
    from nbvideo.model.state import Take
    from nbvideo.runtime.jobs import Job

    p = yoga
    n = figure_scene(p)
    sid, before = p.scene(n).id, p.scene(n).clip.id
    p.finish(voice="narrator-f")
    job = p.lip_sync(n)
    assert isinstance(job, Job)
    take = job.wait()
    assert isinstance(take, Take) and take.id != before
    assert p.scene(n).clip.id == take.id  # chosen once made
    assert [(e.scene, e.status) for e in job.events] == [
        (sid, "queued"), (sid, "processing"), (sid, "succeeded")]
    again = p.lip_sync(n)
    assert again.wait().id == take.id and again.events[-1].status == "cached"


def test_the_board_and_the_clip_grid_badge_presenter_and_lip_synced_scenes(
        yoga: nv.Project, wire: Any) -> None:
    from nbvideo.widgets.board import StoryboardBoard
    from nbvideo.widgets.grid import ClipGrid

    p = yoga
    n = figure_scene(p)
    other = 1 if n != 1 else 2
    board, grid = StoryboardBoard(p), ClipGrid(p)
    assert [c.scene["badges"] for c in board.cards] == [[]] * len(board.cards)
    assert [t.tile["badges"] for t in grid.tiles] == [[]] * len(grid.tiles)
    p.finish(voice="narrator-f")
    p.lip_sync(n).wait()
    p.present(other, avatar="ava")
    board.settle()
    grid.settle()
    synced = [{"kind": "lip-synced", "text": "lip-synced"}]
    presenter = [{"kind": "presenter", "text": "presenter: ava"}]
    assert board.cards[n - 1].scene["badges"] == synced  # the open views follow the project
    assert grid.tiles[n - 1].tile["badges"] == synced
    assert board.cards[other - 1].scene["badges"] == presenter
    assert grid.tiles[other - 1].tile["badges"] == presenter
    p.choose_take(n, p.scene(n).clip.inputs["lip_sync"]["from_take"])  # back to the original
    board.settle()
    grid.settle()
    assert board.cards[n - 1].scene["badges"] == grid.tiles[n - 1].tile["badges"] == []
    board.close()
    grid.close()


def test_offline_lip_sync_refuses_a_clip_with_no_known_face_and_a_line_too_long(
        yoga: nv.Project, tmp_path: Path) -> None:
    from nbvideo.generate.lipsync import face_of

    p = yoga
    rt = p.runtime
    faceless = next(i for i, s in enumerate(rt.state.scenes, 1)
                    if face_of(rt, s, s.clip)[0] is None)  # type: ignore[arg-type]
    chosen = p.scene(faceless).clip.id
    line = tone_wav(tmp_path / "short.wav", 0.8)
    with pytest.raises(InvalidInput, match="no known face position"):
        p.lip_sync(faceless, voice=line, model="local-lipsync")
    assert p.scene(faceless).clip.id == chosen
    n = figure_scene(p)
    long = tone_wav(tmp_path / "long.wav", p.scene(n).duration_s + 1.0)
    with pytest.raises(InvalidInput, match="fits"):
        p.lip_sync(n, voice=long)
    with pytest.raises(InvalidInput, match="lip-sync model is one of: local-lipsync"):
        p.lip_sync(n, voice=line, model="lipsync-2")  # no Replicate in this project
    with pytest.raises(InvalidInput, match="no voice_line|voice-over's voice"):
        p.lip_sync(n)  # voice="line" with no voice chosen


# ------------------------------------------------------------------ Replicate double (slow)

@pytest.fixture
def paid(replicate_env: ReplicateDouble, tmp_path: Path) -> Iterator[nv.Project]:
    from tests.test_clip_routing import fast

    p = fast(nv.Project.open(tmp_path / "paid", brief=BRIEF, providers="replicate",
                             duration_s=8, fps=12))
    p.storyboard()
    p.generate_clips().wait()
    yield p
    p.close()


@pytest.mark.slow
def test_lipsync2_on_replicate_is_paid_through_the_gate_and_kept(
        paid: nv.Project, replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    p, double = paid, replicate_env
    before = p.scene(1).clip
    assert before is not None
    line = tone_wav(tmp_path / "my line.wav", 1.0)
    take = p.lip_sync(1, voice=line).wait()
    assert take.model == "lipsync-2" and take.request_id in double.ids(LIPS)
    sent = double.last_input(LIPS)
    s = schema()
    jsonschema.validate(sent, {k: v for k, v in s.items() if not k.startswith("_")
                               and k != "output"})
    assert sent["video"].startswith("data:video/mp4;base64,")
    assert sent["audio"].startswith("data:audio/wav;base64,")
    info = probe(p.path / take.path)
    assert info.has_audio and info.duration_s == pytest.approx(before.duration_s, abs=0.1)
    rows = p.costs[(p.costs["model"] == "lipsync-2") & (p.costs["status"] == "succeeded")]
    assert len(rows) == 1
    billed = price(get_model("lipsync-2"),
                   seconds=math.ceil(round(info.frames / info.fps * 25, 6)) / 25)
    assert rows["cost_usd"].iloc[0] == pytest.approx(billed.cost_usd)
    lip_cost = sum(double._price(pp) for pp in double._preds.values() if pp.model == LIPS)
    assert rows["cost_usd"].sum() == pytest.approx(lip_cost)
    assert p.costs[(p.costs["model"] == "lipsync-2")]["status"].tolist()[:1] == ["submitted"]
    # the same clip and line again: reused, not paid again
    creates = double.creates[LIPS]
    assert p.lip_sync(1, voice=line).wait().id == take.id and double.creates[LIPS] == creates
    p.close()
    again = nv.Project.open(p.path)
    assert again.scene(1).clip.id == take.id
    assert again.scene(1).clip.inputs["lip_sync"]["voice"] == "recorded"
    again.close()


@pytest.mark.slow
def test_canceling_a_lip_sync_job_cancels_its_prediction_and_keeps_the_clip(
        paid: nv.Project, replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    p, double = paid, replicate_env
    before = p.scene(1).clip.id
    double.latency_by_model[LIPS] = 3600  # still running when it is canceled
    job = p.lip_sync(1, voice=tone_wav(tmp_path / "line.wav", 1.0))
    deadline = time.monotonic() + 60
    while not [t for t in p.scene(1).clip_takes if t.model == "lipsync-2" and t.request_id] \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    job.cancel()
    with pytest.raises(nv.Canceled):
        job.wait()
    assert job.settle()
    [pid] = double.ids(LIPS)
    assert double.cancels == [pid]  # stopped remotely: it bills no further
    assert job.events[-1].status == "canceled"
    assert p.scene(1).clip.id == before
    [take] = [t for t in p.scene(1).clip_takes if t.model == "lipsync-2"]
    assert take.status == "canceled" and take.request_id == pid


@pytest.mark.slow
def test_lipsync2_is_refused_over_budget_before_any_request_and_a_failure_keeps_the_clip(
        paid: nv.Project, replicate_env: ReplicateDouble, tmp_path: Path) -> None:
    p, double = paid, replicate_env
    before = p.scene(1).clip.id
    line = tone_wav(tmp_path / "line.wav", 1.0)
    p.budget_usd = p.spent_usd + 0.05  # a 5 s sync reserves 0.25
    with pytest.raises(nv.BudgetExceeded):
        p.lip_sync(1, voice=line).wait()
    assert double.creates[LIPS] == 0
    assert (p.costs[p.costs["model"] == "lipsync-2"]["status"] == "refused").any()
    assert p.scene(1).clip.id == before
    p.budget_usd = None
    with pytest.raises(nv.BudgetExceeded):
        p.lip_sync(1, voice=line, budget_usd=0.01).wait()  # this call's own cap
    assert double.creates[LIPS] == 0
    double.fail_refs[LIPS] = 1
    with pytest.raises(nv.ProviderError, match="CUDA out of memory"):
        p.lip_sync(1, voice=line).wait()
    assert double.creates[LIPS] == 1
    assert p.scene(1).clip.id == before  # the failed sync is a take, not the choice
    failed = [t for t in p.scene(1).clip_takes if t.model == "lipsync-2"]
    assert [t.status for t in failed] == ["failed"] and failed[0].request_id
