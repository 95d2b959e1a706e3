"""The soundtrack: music bed, voice placement, ducking, fades, loudness, overrun reports.

Every check reads real files: PyAV for what a file holds, ffmpeg's ebur128 for loudness, and
numpy on decoded samples for levels. Voice lines here are the OpenAI double's speech-like
tone bursts (no espeak needed); one test mixes a real espeak-ng line when it is installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from nbvideo.errors import InvalidInput
from nbvideo.media.audio_io import SAMPLE_RATE, decode, read_wav, wav_duration, write_wav
from nbvideo.media.ffmpeg import RenderCanceled, ffmpeg_exe, probe
from nbvideo.providers.base import SpeechRequest
from nbvideo.providers.local.voice import EspeakVoice, find_espeak
from nbvideo.sound.mix import (
    MixSettings,
    Overrun,
    describe_overruns,
    line_overruns,
    measure_loudness,
    mix,
    music_bed,
    place_voice,
    premix_graph,
)
from tests.doubles.openai_double import speech_wav

pytestmark = pytest.mark.slow

D = 12.0  # seconds of "video"
LINES = [(1.0, "Mud. Rain. Another weekend."), (5.0, "Waterproof from toe to collar.")]
TP_TOLERANCE = 0.1  # dB over the ceiling that a lossy encode may add; measured: none


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stream(path: Path) -> tuple[str, int, int, float]:
    """(codec, sample rate, channels, seconds decoded) of the first audio stream."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(a))
        return a.codec_context.name, a.rate, a.channels, n / a.rate


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


def band_db(x: np.ndarray, f0: float, start_s: float, end_s: float) -> np.ndarray:
    """Level of the band around f0 in 100 ms windows of channel 0 between start and end."""
    w = SAMPLE_RATE // 10
    freqs = np.fft.rfftfreq(w, 1 / SAMPLE_RATE)
    band = (freqs > f0 - 15) & (freqs < f0 + 15)
    out = []
    for i in range(round(start_s * 10), round(end_s * 10)):
        seg = x[i * w:(i + 1) * w, 0] * np.hanning(w)
        out.append(10 * np.log10(np.sum(np.abs(np.fft.rfft(seg))[band] ** 2) + 1e-12))
    return np.array(out)


@pytest.fixture(scope="module")
def stems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Voice lines and a voice track, a music bed, and a 55 Hz tone as 'music' to measure."""
    d = tmp_path_factory.mktemp("stems")
    paths: dict[str, Path] = {}
    for i, (_, text) in enumerate(LINES):
        _, wav = speech_wav(text)  # 24 kHz streamed WAV, as the API sends it
        raw = d / f"raw{i}.wav"
        raw.write_bytes(wav)
        samples = decode(raw, channels=1)
        paths[f"line{i}"] = write_wav(d / f"line{i}.wav", samples)
    paths["voice"] = place_voice([(s, paths[f"line{i}"]) for i, (s, _) in enumerate(LINES)],
                                 D, d / "voice.wav")
    x = read_wav(paths["voice"])[0][:, 0].copy()
    for at in np.arange(1.2, D - 1, 0.7):  # plosive-like clicks: peaks far above the loudness
        i = round(at * SAMPLE_RATE)
        x[i:i + 96] += 0.95 * np.hanning(96) * np.sign(np.sin(np.arange(96)))
    paths["peaky"] = write_wav(d / "peaky.wav", x)
    paths["bed"] = music_bed(d / "bed.wav", D, seed=7)
    t = np.arange(round(D * SAMPLE_RATE)) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 55 * t)
    paths["tone"] = write_wav(d / "tone.wav", np.stack([tone, tone], axis=1))
    return paths


# --------------------------------------------------------------------------- music bed

def test_bed_is_the_same_for_a_seed_and_differs_for_another(tmp_path: Path) -> None:
    a = music_bed(tmp_path / "a.wav", 6.5, seed=11)
    b = music_bed(tmp_path / "b.wav", 6.5, seed=11)
    c = music_bed(tmp_path / "c.wav", 6.5, seed=12)
    calm = music_bed(tmp_path / "calm.wav", 6.5, seed=11, mood="calm")
    assert sha(a) == sha(b)
    assert len({sha(a), sha(c), sha(calm)}) == 3
    codec, rate, channels, seconds = stream(a)
    assert (codec, rate, channels) == ("pcm_s16le", SAMPLE_RATE, 2)
    assert seconds == pytest.approx(6.5, abs=1 / SAMPLE_RATE)
    x, _ = read_wav(a)
    assert -26 < rms_db(x) < -6 and np.max(np.abs(x)) == pytest.approx(10 ** (-3 / 20), abs=1e-3)
    assert np.abs(x[:, 0] - x[:, 1]).max() > 0.01  # a stereo pad, not mono twice


def test_bed_rejects_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="moods: calm, upbeat, driving"):
        music_bed(tmp_path / "x.wav", 5, mood="sad")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="duration_s"):
        music_bed(tmp_path / "x.wav", 0)


# --------------------------------------------------------------------------- voice placement

def test_each_line_starts_where_asked(stems: dict[str, Path], tmp_path: Path) -> None:
    line = stems["line0"]
    out = place_voice([(0.5, line), (3.25, line)], 8.0, tmp_path / "v.wav")
    codec, rate, channels, seconds = stream(out)
    assert (codec, rate, channels) == ("pcm_s16le", SAMPLE_RATE, 1)
    assert seconds == pytest.approx(8.0, abs=1 / SAMPLE_RATE)
    x = read_wav(out)[0][:, 0]
    first = read_wav(line)[0][:, 0]
    lead = int(np.flatnonzero(np.abs(first) > 1e-3)[0])  # the line's own leading silence
    onsets = np.flatnonzero(np.abs(x) > 1e-3)
    assert abs(onsets[0] - (round(0.5 * SAMPLE_RATE) + lead)) <= 1
    second = onsets[onsets > round(3.0 * SAMPLE_RATE)][0]
    assert abs(second - (round(3.25 * SAMPLE_RATE) + lead)) <= 1
    assert np.all(np.abs(x[:round(0.5 * SAMPLE_RATE) + lead - 1]) < 1e-3)


def test_a_line_past_the_end_is_refused_with_the_seconds(stems: dict[str, Path],
                                                         tmp_path: Path) -> None:
    length = wav_duration(stems["line1"])
    with pytest.raises(InvalidInput, match=r"runs 1\.\d\d s past the end of the video"):
        place_voice([(6.0 - length + 1.5, stems["line1"])], 6.0, tmp_path / "v.wav")
    assert not (tmp_path / "v.wav").exists()


def test_overruns_are_reported_with_the_seconds_over() -> None:
    lines = [("s1", 3.0, 2.4), ("s2", 4.0, 5.25), ("s3", 2.0, 2.0), ("s4", 3.0, 3.0004)]
    assert line_overruns(lines) == [Overrun("s2", 1.25)]
    assert line_overruns(lines, tolerance_s=2) == []
    assert line_overruns([("s9", 1.0, 1.5)])[0].seconds_over == 0.5
    assert describe_overruns(line_overruns(lines)) == \
        "scene s2: the voice line runs 1.25 s past the end of the scene"


# --------------------------------------------------------------------------- loudness

def test_measure_loudness_reads_a_known_tone(tmp_path: Path) -> None:
    """A 997 Hz sine peaking at -20 dBFS in both channels is -20.0 LUFS by BS.1770."""
    t = np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.1 * np.sin(2 * np.pi * 997 * t)
    path = write_wav(tmp_path / "tone.wav", np.stack([tone, tone], axis=1))
    i, tp, lra = measure_loudness(path)
    assert i == pytest.approx(-20.0, abs=0.2) and tp == pytest.approx(-20.0, abs=0.2)
    assert lra == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("voice", ["voice", "peaky"])
@pytest.mark.parametrize("target", [-14.0, -16.0])
def test_mix_lands_on_the_target_loudness_under_the_peak_ceiling(
        stems: dict[str, Path], tmp_path: Path, target: float, voice: str) -> None:
    r = mix(tmp_path / "ad.m4a", D, voice=stems[voice], music=stems["bed"],
            target_lufs=target, audio_kbps=128)
    with av.open(str(r.path)) as c:
        assert c.streams.audio[0].bit_rate == pytest.approx(128_000, rel=0.15)
    codec, rate, channels, seconds = stream(r.path)
    assert (codec, rate, channels) == ("aac", SAMPLE_RATE, 2)
    assert seconds == pytest.approx(D, abs=0.03)
    i, tp, _ = measure_loudness(r.path)  # ebur128, independent of loudnorm
    assert abs(i - target) <= 1.0, f"integrated {i} LUFS for a {target} target"
    assert tp <= -1.0 + TP_TOLERANCE
    assert (r.integrated_lufs, r.true_peak_dbtp) == (i, tp)
    assert r.normalization == "linear"  # one gain: loudnorm never fell back to compressing
    assert r.limited == (voice == "peaky")  # the clicks needed the true-peak limiter
    print(f"{voice} at {target}: {i} LUFS, {tp} dBTP, limited={r.limited}")


def test_music_alone_and_voice_alone_are_normalised_too(stems: dict[str, Path],
                                                        tmp_path: Path) -> None:
    for name, kw in (("music", {"music": stems["bed"]}), ("voice", {"voice": stems["voice"]})):
        r = mix(tmp_path / f"{name}.wav", D, **kw)  # type: ignore[arg-type]
        assert stream(r.path)[:3] == ("pcm_s16le", SAMPLE_RATE, 2)
        assert abs(r.integrated_lufs + 14) <= 1.0 and r.true_peak_dbtp <= -1.0 + TP_TOLERANCE


@pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")
def test_an_offline_voice_over_on_a_bed_meets_the_target(stems: dict[str, Path],
                                                         tmp_path: Path) -> None:
    line = asyncio.run(EspeakVoice().speak(
        SpeechRequest(text="Meet the Ridgeline. Waterproof from toe to collar."),
        tmp_path / "line.wav"))
    voice = place_voice([(2.0, line.path)], D, tmp_path / "voice.wav")
    r = mix(tmp_path / "ad.m4a", D, voice=voice, music=stems["bed"])
    assert abs(r.integrated_lufs + 14) <= 1.0 and r.true_peak_dbtp <= -1.0 + TP_TOLERANCE


# --------------------------------------------------------------------------- ducking, fades

def test_music_ducks_under_the_voice(stems: dict[str, Path], tmp_path: Path) -> None:
    """With a 55 Hz tone as the music, its band is measured in 100 ms windows inside the
    spoken lines (past the attack) and where nobody speaks (past the release)."""
    dips = {}
    for duck in (True, False):
        r = mix(tmp_path / f"duck-{duck}.wav", D, voice=stems["voice"], music=stems["tone"],
                duck=duck, fade_in_s=0, fade_out_s=0)
        x = decode(r.path, channels=2)
        spans = [(s + 0.2, s + wav_duration(stems[f"line{i}"]) - 0.2)
                 for i, (s, _) in enumerate(LINES)]
        under = np.concatenate([band_db(x, 55, a, b) for a, b in spans])
        clear = np.concatenate([band_db(x, 55, 0.1, 0.9),
                                band_db(x, 55, spans[-1][1] + 1.5, D - 0.1)])
        dips[duck] = (float(np.median(clear) - np.median(under)),
                      float(np.median(clear) - np.max(under)))
    print(f"music under the voice: {dips[True][0]:.1f} dB lower (median), "
          f"{dips[True][1]:.1f} dB at least; without ducking {dips[False][0]:.1f} dB")
    assert dips[True][0] >= 8.0  # duck_db=10 by default
    assert dips[True][1] >= 6.0  # even in the pauses between words
    assert abs(dips[False][0]) < 1.0


def test_music_fades_in_and_out(stems: dict[str, Path], tmp_path: Path) -> None:
    r = mix(tmp_path / "fades.wav", D, music=stems["tone"], fade_in_s=1.0, fade_out_s=2.0)
    x = decode(r.path, channels=2)
    ms100 = SAMPLE_RATE // 10
    middle = rms_db(x[len(x) // 2 - ms100:len(x) // 2 + ms100])
    assert rms_db(x[:ms100]) < middle - 15
    assert rms_db(x[-ms100:]) < middle - 15
    assert rms_db(x[round(0.5 * SAMPLE_RATE):][:ms100]) < middle - 3  # still rising


def test_a_short_music_file_loops_to_the_end(stems: dict[str, Path], tmp_path: Path) -> None:
    short = music_bed(tmp_path / "short.wav", 2.0, seed=1)
    looped = decode(mix(tmp_path / "l.wav", 7.0, music=short, fade_out_s=0).path, channels=2)
    once = decode(mix(tmp_path / "o.wav", 7.0, music=short, fade_out_s=0,
                      loop_music=False).path, channels=2)
    late = slice(round(5.0 * SAMPLE_RATE), round(6.5 * SAMPLE_RATE))
    assert len(looped) == len(once) == 7 * SAMPLE_RATE
    assert rms_db(looped[late]) > -30 and rms_db(once[late]) < -80


def test_the_voice_stays_in_sync_through_the_mix(stems: dict[str, Path], tmp_path: Path) -> None:
    x_voice = read_wav(stems["voice"])[0][:, 0]
    want = int(np.flatnonzero(np.abs(x_voice) > 1e-3)[0])
    for ext in ("wav", "m4a"):  # the limiter's lookahead and AAC's priming are compensated
        x = decode(mix(tmp_path / f"sync.{ext}", D, voice=stems["voice"]).path, channels=2)
        got = int(np.flatnonzero(np.abs(x[:, 0]) > 1e-3)[0])
        assert abs(got - want) <= 48, f"{ext}: voice moved by {(got - want) / 48:.1f} ms"


def test_same_inputs_give_the_same_soundtrack(stems: dict[str, Path], tmp_path: Path) -> None:
    a = mix(tmp_path / "a.wav", D, voice=stems["voice"], music=stems["bed"])
    b = mix(tmp_path / "b.wav", D, voice=stems["voice"], music=stems["bed"])
    assert sha(a.path) == sha(b.path)  # no race at the end of the stems (see premix_graph)


# --------------------------------------------------------------------------- the interface

def test_mix_explains_what_it_cannot_do(stems: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="voice track, a music file, or both"):
        mix(tmp_path / "a.m4a", D)
    with pytest.raises(InvalidInput, match=r"\.m4a .* or \.wav"):
        mix(tmp_path / "a.ogg", D, music=stems["bed"])
    with pytest.raises(TypeError, match="loudness.*allowed: .*target_lufs"):
        mix(tmp_path / "a.m4a", D, music=stems["bed"], loudness=-14)
    with pytest.raises(InvalidInput, match="target_lufs"):
        mix(tmp_path / "a.m4a", D, music=stems["bed"], target_lufs=3)
    junk = tmp_path / "song.mp3"
    junk.write_text("not audio")
    with pytest.raises(InvalidInput, match="holds no audio"):
        mix(tmp_path / "a.m4a", D, music=junk)
    assert not list(tmp_path.glob("a.*"))


def test_the_premix_graph_can_be_spliced_by_label() -> None:
    g = premix_graph(30, voice="0:a", music="1:a", settings=MixSettings(), out_label="aud")
    assert g.startswith("[0:a]") and g.endswith("[aud]")
    for name in ("sidechaincompress", "amix", "afade=t=in", "afade=t=out:st=28.5"):
        assert name in g
    assert "sidechaincompress" not in premix_graph(
        30, voice="0:a", music="1:a", settings=MixSettings(duck=False))


def test_the_soundtrack_muxes_into_an_mp4_by_stream_copy(stems: dict[str, Path],
                                                         tmp_path: Path) -> None:
    """What the export engine does with mix()'s file: copy its AAC next to the picture."""
    video = tmp_path / "picture.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate=12:duration={D:g}", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(video)], check=True)
    sound = mix(tmp_path / "sound.m4a", D, voice=stems["voice"], music=stems["bed"])
    ad = tmp_path / "ad.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(video),
                    "-i", str(sound.path), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
                    "-movflags", "+faststart", str(ad)], check=True)
    info = probe(ad)
    assert info.has_audio and info.duration_s == pytest.approx(D, abs=0.1)
    assert stream(ad)[:3] == ("aac", SAMPLE_RATE, 2)
    i, tp, _ = measure_loudness(ad)
    assert abs(i + 14) <= 1.0 and tp <= -1.0 + TP_TOLERANCE


def test_a_canceled_mix_leaves_nothing_behind(stems: dict[str, Path], tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RenderCanceled):
        mix(tmp_path / "a.m4a", D, voice=stems["voice"], music=stems["bed"], cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_silence_is_not_amplified(tmp_path: Path) -> None:
    quiet = write_wav(tmp_path / "silent.wav", np.zeros(3 * SAMPLE_RATE))
    r = mix(tmp_path / "s.wav", 3.0, voice=quiet)
    assert r.normalization == "none" and np.max(np.abs(decode(r.path, channels=2))) == 0


def test_a_master_encodes_to_each_bitrate_at_its_loudness_or_not_at_all(tmp_path: Path) -> None:
    """One normalised master serves every bitrate; an encode whose peaks would pass the
    ceiling is refused (no file) so the caller mixes straight to AAC instead."""
    from nbvideo.sound.mix import encode_master

    t = np.arange(4 * SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.2 * np.sin(2 * np.pi * 440 * t)
    master = write_wav(tmp_path / "master.wav", np.stack([tone, tone], axis=1))
    ref = measure_loudness(master)
    sizes = []
    for kbps in (96, 256):
        out = tmp_path / f"a{kbps}.m4a"
        got = encode_master(master, out, audio_kbps=kbps, true_peak_db=-1.0)
        assert got is not None and abs(got.integrated_lufs - ref.integrated_lufs) <= 0.2
        assert measure_loudness(out).integrated_lufs == pytest.approx(got.integrated_lufs)
        sizes.append(out.stat().st_size)
    assert sizes[1] > sizes[0] * 1.5
    loud = 0.98 * np.sin(2 * np.pi * 440 * t)  # peaks at -0.2 dBTP, over a -1 dBTP ceiling
    hot = write_wav(tmp_path / "hot.wav", np.stack([loud, loud], axis=1))
    assert encode_master(hot, tmp_path / "hot.m4a", audio_kbps=128, true_peak_db=-1.0) is None
    assert not list(tmp_path.glob("*hot.m4a*"))
