"""The ad's soundtrack: voice lines placed on the timeline, a music bed, ducking, loudness.

Pure functions over files; they know nothing of projects. The export engine calls them:

    voice = place_voice([(0.0, "s1.wav"), (3.5, "s2.wav")], duration_s=30, out="voice.wav")
    bed = music_bed("bed.wav", 30, seed=7)              # or the user's own music file
    result = mix("soundtrack.m4a", 30, voice=voice, music=bed, target_lufs=-14)
    # then mux result.path (AAC) with the picture: -map 0:v -map 1:a -c:a copy

`mix` reads the stems' levels in numpy and renders twice with ffmpeg:
  1. premix (`premix_graph`, one ffmpeg run): each stem brought to a reference level (read
     by `sound.master.integrated_lufs`), the music looped or trimmed to the video, faded in
     and out, ducked under the voice by `sidechaincompress` keyed on the voice, and summed
     with the voice by `amix`; placed sound effects are added to it;
  2. `sound.master.master` in memory: one gain to the target, and a look-ahead true-peak
     limiter first when the peaks would pass the ceiling (corrected until it lands);
     written as a WAV, or encoded to AAC (the second ffmpeg run);
  3. the output is measured with ebur128, independently of the numpy meter, and reported.
Before (loudnorm's two passes and limit-and-measure rounds) an export's soundtrack took
about twelve ffmpeg runs; `benchmarks/bench_mastering.py` measures both.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbvideo.errors import InvalidInput, from_validation
from nbvideo.media.audio_io import BITEXACT, SAMPLE_RATE, decode, read_wav, write_wav
from nbvideo.media.ffmpeg import RenderCanceled, run_ffmpeg
from nbvideo.model.checked import Checked
from nbvideo.sound.loudness import Loudness, measure_loudness
from nbvideo.sound.master import LIMIT_MARGIN_DB, SILENCE_LUFS, Mastered, integrated_lufs, master
from nbvideo.sound.music_bed import music_bed

__all__ = ["MAX_TEMPO", "Loudness", "MixResult", "MixSettings", "Overrun", "describe_overruns",
           "encode_master", "fit_tempo", "line_overruns", "measure_loudness", "mix", "music_bed",
           "place_voice", "premix_graph", "speed_up"]

VOICE_REF_LUFS = -18.0
"""Where the voice stem sits before the final gain; only the balance with the music matters."""
_GUARD_S = 1.0
"""Stems run this far past the video's end inside the graph; see premix_graph."""


# --------------------------------------------------------------------------- voice lines

class Overrun(NamedTuple):
    scene_id: str
    seconds_over: float


def line_overruns(lines: Iterable[tuple[str, float, float]], *,
                  tolerance_s: float = 0.0) -> list[Overrun]:
    """The scenes whose voice line is longer than the scene, with the seconds over.

    `lines` is (scene_id, scene_duration_s, voice_duration_s) per scene. A line is never cut
    to fit: the export reports these before it runs, and the user shortens the line, speeds
    up the voice, or lengthens the scene. Seconds are rounded to milliseconds.

    >>> line_overruns([("s1", 3.0, 2.5), ("s2", 4.0, 5.25)])
    [Overrun(scene_id='s2', seconds_over=1.25)]
    """
    out = []
    for scene_id, scene_s, voice_s in lines:
        over = round(voice_s - scene_s, 3)
        if over > tolerance_s:
            out.append(Overrun(scene_id, over))
    return out


def describe_overruns(overruns: Sequence[Overrun]) -> str:
    """One readable sentence per overrun, for an export report or an error."""
    return "; ".join(f"scene {o.scene_id}: the voice line runs {o.seconds_over:.2f} s past "
                     "the end of the scene" for o in overruns)


MAX_TEMPO = 1.5
"""The fastest `voice_fit="speed"` plays a line: past 1.5x speech stops sounding natural."""
TAIL_FADE_S = 0.3
"""An accepted overrun at the film's end fades out over this long instead of clicking off."""


def fit_tempo(voice_s: float, room_s: float) -> float:
    """The speed-up (>= 1, at most MAX_TEMPO) that plays a `voice_s` line within `room_s`;
    rounded up to 1/1000 so the sped line never ends later than the room.

    >>> fit_tempo(3.0, 2.5), fit_tempo(2.0, 2.5), fit_tempo(9.0, 2.0)
    (1.2, 1.0, 1.5)
    """
    if voice_s <= room_s or room_s <= 0:
        return 1.0 if voice_s <= room_s else MAX_TEMPO
    return min(MAX_TEMPO, math.ceil(round(voice_s / room_s * 1000, 6)) / 1000)


def speed_up(wav: str | Path, tempo: float, out: str | Path) -> Path:
    """The line played `tempo` times faster at the same pitch (ffmpeg's atempo), as a
    48 kHz mono WAV written beside `out` and renamed; deterministic, so it can be cached."""
    if not 1.0 <= tempo <= MAX_TEMPO:
        raise InvalidInput(f"tempo must be from 1 to {MAX_TEMPO:g}, got {tempo!r}")
    out = Path(out)
    part = out.with_name(f".{out.name}.part")
    run_ffmpeg(["-i", str(wav), "-af", f"atempo={tempo:.3f}", "-ac", "1",
                "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", *BITEXACT, "-f", "wav", str(part)],
               total_s=None)
    part.replace(out)
    return out


def place_voice(lines: Sequence[tuple[float, str | Path]], duration_s: float,
                out: str | Path, *, past_end: Literal["refuse", "fade"] = "refuse") -> Path:
    """One voice track of exactly `duration_s` (48 kHz mono WAV) with each line at its start.

    `lines` is (start_s, wav_path) per line, e.g. each scene's start on the timeline.
    A line is placed to the sample (round(start_s * 48000)); lines that overlap are summed
    (`line_overruns` reports that before export). A line that would run past the end of the
    video is refused with the seconds over, never cut silently; `past_end="fade"` (an
    overrun the user accepted) fades it out over TAIL_FADE_S and ends it with the video.
    """
    if not duration_s > 0:
        raise InvalidInput(f"duration_s must be > 0, got {duration_s}")
    total = round(duration_s * SAMPLE_RATE)
    track = np.zeros(total, dtype=np.float64)
    for start_s, path in lines:
        if start_s < 0:
            raise InvalidInput(f"voice line {path}: start_s must be >= 0, got {start_s}")
        samples, rate = read_wav(path)
        if rate != SAMPLE_RATE:
            raise InvalidInput(f"voice line {path}: expected {SAMPLE_RATE} Hz, got {rate} Hz "
                               "(voice models write 48 kHz; convert_to_wav converts)")
        mono = samples.mean(axis=1)
        at = round(start_s * SAMPLE_RATE)
        if at + len(mono) > total and past_end == "fade" and at < total:
            mono = mono[:total - at].copy()
            n = min(len(mono), round(TAIL_FADE_S * SAMPLE_RATE))
            mono[len(mono) - n:] *= np.linspace(1.0, 0.0, n)
        if at + len(mono) > total:
            over = (at + len(mono) - total) / SAMPLE_RATE
            raise InvalidInput(f"voice line {path} starting at {start_s:.3f} s runs "
                               f"{over:.2f} s past the end of the video ({duration_s:g} s)")
        track[at:at + len(mono)] += mono
    return write_wav(out, track)


# --------------------------------------------------------------------------- mix settings

class MixSettings(Checked):
    """How the soundtrack is mixed. Defaults suit a 15-60 s social ad at -14 LUFS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_lufs: float = Field(-14.0, ge=-31.0, le=-5.0,
                               description="Integrated loudness (platforms: -14; Apple -16).")
    true_peak_db: float = Field(-1.0, ge=-9.0, le=0.0, description="True-peak ceiling, dBTP.")
    fade_in_s: float = Field(0.5, ge=0.0, description="Music fade-in at the start.")
    fade_out_s: float = Field(1.5, ge=0.0, description="Music fade-out to the end.")
    music_end_s: float | None = Field(None, gt=0.0, description=(
        "Where the music's fade-out ends and it falls silent (sound.ending chooses a beat "
        "after the last word); None: the video's end. Past the video's end means its end."))
    duck: bool = Field(True, description="Lower the music while the voice speaks.")
    duck_db: float = Field(10.0, ge=3.0, le=20.0,
                           description="How far the music dips while the voice speaks.")
    music_db: float = Field(-6.0, ge=-30.0, le=6.0,
                            description="Music level against the voice, before ducking.")
    loop_music: bool = Field(True, description="Repeat a music file shorter than the video.")
    attack_ms: float = Field(20.0, gt=0.0, le=2000.0)
    release_ms: float = Field(400.0, gt=0.0, le=9000.0)
    audio_kbps: int = Field(192, ge=64, le=512,
                            description="AAC bitrate of an .m4a (a preset's audio_kbps).")


class MixResult(BaseModel):
    """The finished soundtrack and how it measures (ebur128 on the written file)."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    duration_s: float
    integrated_lufs: float
    true_peak_dbtp: float
    lra: float
    target_lufs: float
    true_peak_db: float
    normalization: Literal["linear", "dynamic", "none"] = Field(
        description="loudnorm's mode: linear is one gain; dynamic means it had to compress; "
        "none: the input was silent.")
    limited: bool = Field(description="Whether the premix needed true-peak limiting first.")
    graph: str = Field(description="The premix filter graph, for the record.")


def _settings(settings: MixSettings | None, overrides: dict[str, object]) -> MixSettings:
    allowed = sorted(MixSettings.model_fields)
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise TypeError(f"mix() got unexpected keyword argument(s) {', '.join(unknown)}; "
                        f"allowed: {', '.join(allowed)}")
    base = (settings or MixSettings()).model_dump()
    try:
        return MixSettings(**{**base, **overrides})
    except ValidationError as exc:
        raise from_validation(exc, "mix") from None


# --------------------------------------------------------------------------- the graph

def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


_DUCK_KEY_DB = -32.0
"""The ducker's threshold, against the voice stem's level: any speech is far above it."""
_DUCK_RATIO = 20.0


def _duck_mix(duck_db: float) -> float:
    """sidechaincompress's dry/wet `mix` that makes the music dip by `duck_db` under speech.

    Why not set the depth with threshold and ratio: a compressor's gain reduction follows the
    voice's level, so quiet words would barely duck and loud ones would bury the music. Here
    the compressor itself is fierce (a threshold ~32 dB under the voice, ratio 20: the wet
    signal is ~25 dB down whenever anyone speaks) and the depth is set by blending it with the
    dry music: (1 - mix) + mix * wet = 10^(-duck_db/20), with wet taken as -25 dB.
    """
    wet = 10 ** (-25 / 20)
    return min(1.0, (1 - 10 ** (-duck_db / 20)) / (1 - wet))


def premix_graph(duration_s: float, *, voice: str | None, music: str | None,
                 settings: MixSettings, voice_gain_db: float = 0.0,
                 music_gain_db: float = 0.0, out_label: str = "premix",
                 effects: str | None = None, effects_gain_db: float = 0.0) -> str:
    """The filter graph that fades, ducks and sums the stems, ending at `[out_label]`.

    `voice` and `music` are input pads such as "0:a" or "1:a:0" (None when absent); a music
    input should be looped (-stream_loop -1) if it may be shorter than the video. The export
    engine can splice this into its own graph, but it then owes the loudness passes `mix`
    does; taking `mix`'s finished file is simpler and measured.

    Why the guard tail: every stem runs `_GUARD_S` past the end and the sum is trimmed after.
    sidechaincompress and amix stop at the first end of stream they see, and which input's
    end they see first is a race between filter threads: without the tail the ducked music
    lost its last 64-700 ms in some runs and not others. Races in the tail are cut away.

    `effects` (the timeline's sound effects and clip sound) is summed after the ducking, at
    its own level plus `effects_gain_db`: never ducked, never brought to a reference level.
    """
    if effects is not None:
        fx = (f"[{effects}]aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts="
              f"stereo,atrim=0:{_fmt(duration_s)},asetpts=N/SR/TB,"
              f"volume={_fmt(effects_gain_db)}dB,apad,atrim=0:{_fmt(duration_s + _GUARD_S)}[fx]")
        if voice is None and music is None:
            return f"{fx};[fx]atrim=0:{_fmt(duration_s)}[{out_label}]"
        inner = premix_graph(duration_s, voice=voice, music=music, settings=settings,
                             voice_gain_db=voice_gain_db, music_gain_db=music_gain_db,
                             out_label="prefx")
        return (f"{inner};{fx};[prefx]apad,atrim=0:{_fmt(duration_s + _GUARD_S)}[prefxp];"
                f"[prefxp][fx]amix=inputs=2:duration=longest:normalize=0,"
                f"atrim=0:{_fmt(duration_s)}[{out_label}]")
    d, g = _fmt(duration_s), _fmt(duration_s + _GUARD_S)
    fmt = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    parts: list[str] = []
    if voice is not None:
        parts.append(f"[{voice}]{fmt},atrim=0:{d},asetpts=N/SR/TB,"
                     f"volume={_fmt(voice_gain_db)}dB,apad,atrim=0:{g}[vo]")
    if music is not None:
        end = min(settings.music_end_s or duration_s, duration_s)
        fade_in = min(settings.fade_in_s, end / 2)
        fade_out = min(settings.fade_out_s, end - fade_in)
        chain = [fmt, f"atrim=0:{d}", "asetpts=N/SR/TB", f"volume={_fmt(music_gain_db)}dB"]
        if fade_in > 0:
            chain.append(f"afade=t=in:st=0:d={_fmt(fade_in)}:curve=tri")
        if fade_out > 0:  # (afade out leaves silence after its end: the music stops there)
            chain.append(f"afade=t=out:st={_fmt(end - fade_out)}:d={_fmt(fade_out)}"
                         ":curve=tri")
        elif end < duration_s:  # no fade asked: a 2 ms one (no click), sample-exact
            chain.append(f"afade=t=out:st={_fmt(max(0.0, end - 0.002))}:d=0.002")
        parts.append(f"[{music}]{','.join(chain)},apad,atrim=0:{g}[mu]")
    if voice is not None and music is not None:
        music_out, voice_out = "mu", "vo"
        if settings.duck:
            threshold = 10 ** ((VOICE_REF_LUFS + _DUCK_KEY_DB) / 20)
            parts.append(f"[vo]asplit=2[vk][vmix];[vk]apad=pad_dur={_fmt(_GUARD_S)}[vkey]")
            parts.append(f"[mu][vkey]sidechaincompress=threshold={threshold:.6g}"
                         f":ratio={_DUCK_RATIO:g}:attack={_fmt(settings.attack_ms)}"
                         f":release={_fmt(settings.release_ms)}:knee=2:link=maximum"
                         f":detection=rms:mix={_duck_mix(settings.duck_db):.4f}[duck]")
            music_out, voice_out = "duck", "vmix"
        parts.append(f"[{music_out}][{voice_out}]amix=inputs=2:duration=longest:normalize=0,"
                     f"atrim=0:{d}[{out_label}]")
    else:
        only = "vo" if voice is not None else "mu"
        parts.append(f"[{only}]atrim=0:{d}[{out_label}]")
    return ";".join(parts)


# --------------------------------------------------------------------------- mixing

def _stem_samples(path: Path, duration_s: float) -> np.ndarray:
    """A stem as the mix uses it: 48 kHz stereo, at most `duration_s` (a looped file shorter
    than that is the loop itself). 48 kHz 16-bit WAVs (voice tracks, beds, effects) are read
    directly; anything else is decoded by ffmpeg."""
    samples, rate = read_wav(path)
    if rate != SAMPLE_RATE:
        samples = decode(path, duration_s=duration_s)
    samples = samples[:round(duration_s * SAMPLE_RATE)]
    return np.repeat(samples, 2, axis=1) if samples.shape[1] == 1 else samples[:, :2]


def _stem_gain(path: Path, duration_s: float, level_lufs: float) -> float:
    """The gain that brings a stem to `level_lufs`, measured over the stretch the mix uses
    (stereo, as mixed). A silent stem gets none: raising silence by 50 dB would only raise
    its noise."""
    lufs = integrated_lufs(_stem_samples(path, duration_s))
    return level_lufs - lufs if math.isfinite(lufs) and lufs > SILENCE_LUFS else 0.0


def _canceled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise RenderCanceled("mix canceled")


def _has_audio(path: Path) -> bool:
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError, ValueError):
        return False


def _encode_args(out: Path, kbps: int) -> list[str]:
    """ffmpeg output args for `out`. AAC gets the muxer's bitexact flag but not the
    encoder's: `-flags:a +bitexact` switches ffmpeg's AAC encoder to a path that overshot a
    -1.5 dBTP input to +1.5 dBTP on sharp transients (measured), the reverse of what a
    loudness ceiling needs. Without it the encoder is still deterministic."""
    ext = out.suffix.lower()
    if ext == ".wav":
        return ["-c:a", "pcm_s16le", *BITEXACT, "-f", "wav"]
    if ext in (".m4a", ".mp4"):
        return ["-c:a", "aac", "-b:a", f"{kbps}k", "-map_metadata", "-1", "-fflags", "+bitexact",
                "-f", "mp4"]
    raise InvalidInput(f"mix: out must end in .m4a (AAC, to mux) or .wav, got {out.name!r}")


def mix(out: str | Path, duration_s: float, *, voice: str | Path | None = None,
        music: str | Path | None = None, sfx: str | Path | np.ndarray | None = None,
        settings: MixSettings | None = None,
        cancel: threading.Event | None = None, effects: str | Path | None = None,
        effects_gain_db: float = 0.0, **overrides: object) -> MixResult:
    """Mix a voice track and/or music into a finished soundtrack at `out` (.m4a AAC or .wav).

    `duration_s` is the video's; the result is exactly that long (48 kHz stereo). `voice` is
    a track from `place_voice`; `music` any audio file ffmpeg reads (looped when shorter,
    unless loop_music=False) or a `music_bed`. Settings come from `settings` and keyword
    overrides, e.g. ``mix("a.m4a", 30, voice=v, music=m, target_lufs=-16, duck_db=12)``;
    an export preset maps on as target_lufs=preset.loudness_lufs,
    true_peak_db=preset.true_peak_db, audio_kbps=preset.audio_kbps.
    `sfx` is a track of sound effects placed on the film (`sound.sfx.effects_track`'s
    samples, or a file of them), added
    as it is, after ducking: effects are not ducked and do not duck the music.
    `cancel` stops a running pass (RenderCanceled). Nothing to mix is an InvalidInput.
    `effects`: a stem of sounds summed after the ducking at their own level (`premix_graph`).
    """
    s = _settings(settings, overrides)
    out = Path(out)
    encode = _encode_args(out, s.audio_kbps)
    if not duration_s > 0:
        raise InvalidInput(f"duration_s must be > 0, got {duration_s}")
    if voice is None and music is None and sfx is None and effects is None:
        raise InvalidInput("mix: give a voice track, a music file, or both (sound effects, sfx= "
                           "or effects=, may come with either or alone)")
    files = (("voice", voice), ("music", music),
             ("sfx", None if isinstance(sfx, np.ndarray) else sfx), ("effects", effects))
    for name, p in files:
        if p is not None and not Path(p).is_file():
            raise InvalidInput(f"mix: {name} file not found: {p}")
        if p is not None and not _has_audio(Path(p)):
            raise InvalidInput(f"mix: {name} file {p} holds no audio ffmpeg can read")
    out.parent.mkdir(parents=True, exist_ok=True)
    total = round(duration_s * SAMPLE_RATE)
    graph = ""
    with tempfile.TemporaryDirectory(prefix=".mix-", dir=out.parent) as tmpdir:
        tmp = Path(tmpdir)
        premix = np.zeros((total, 2))
        if voice is not None or music is not None:
            inputs: list[str] = []
            voice_pad = music_pad = None
            voice_gain = music_gain = 0.0
            if voice is not None:
                voice_pad, inputs = "0:a:0", ["-i", str(voice)]
                voice_gain = _stem_gain(Path(voice), duration_s, VOICE_REF_LUFS)
            if music is not None:
                music_pad = f"{1 if voice is not None else 0}:a:0"
                inputs += [*(["-stream_loop", "-1"] if s.loop_music else []), "-i", str(music)]
                level = VOICE_REF_LUFS + (s.music_db if voice is not None else 0.0)
                music_gain = _stem_gain(Path(music), duration_s, level)
            _canceled(cancel)
            graph = premix_graph(duration_s, voice=voice_pad, music=music_pad, settings=s,
                                 voice_gain_db=voice_gain, music_gain_db=music_gain)
            raw = tmp / "premix.f32"
            run_ffmpeg([*inputs, "-filter_complex", graph, "-map", "[premix]", "-t",
                        _fmt(duration_s), "-c:a", "pcm_f32le", "-f", "f32le", str(raw)],
                       total_s=None, cancel=cancel)
            got = np.fromfile(raw, dtype="<f4").reshape(-1, 2)[:total]
            premix[:len(got)] = got
        if sfx is not None:
            placed = (sfx[:total] if isinstance(sfx, np.ndarray)
                      else _stem_samples(Path(sfx), duration_s))
            premix[:len(placed)] += placed
        if effects is not None:  # the timeline's effects track, after the ducking like sfx
            track = _stem_samples(Path(effects), duration_s) * 10 ** (effects_gain_db / 20)
            premix[:len(track)] += track
        done = _master_to(out, premix, tmp, encode, s, cancel)
    got_loudness, mastered = done
    return MixResult(path=out, duration_s=duration_s, integrated_lufs=got_loudness.integrated_lufs,
                     true_peak_dbtp=got_loudness.true_peak_dbtp, lra=got_loudness.lra,
                     target_lufs=s.target_lufs, true_peak_db=s.true_peak_db,
                     normalization=mastered.mode, limited=mastered.limited, graph=graph)


_ENCODE_TRIES = 3
"""A lossy encode that overshoots the ceiling is mastered again with more margin, this often."""


def _master_to(out: Path, premix: np.ndarray, tmp: Path, encode: list[str], s: MixSettings,
               cancel: threading.Event | None) -> tuple[Loudness, Mastered]:
    """`premix` mastered (`sound.master`) and written to `out`, then measured by ebur128.

    A WAV is written from the samples; an AAC file is one ffmpeg encode of them. AAC can
    overshoot a true-peak ceiling on sharp transients (~0.5 dB on clicks): then the limiter's
    margin grows by the overshoot and the mix is mastered and encoded again, at most twice.
    """
    part = out.with_name(f".{out.name}.part")
    margin = LIMIT_MARGIN_DB
    try:
        for attempt in range(_ENCODE_TRIES):
            _canceled(cancel)
            mastered = master(premix, target_lufs=s.target_lufs, true_peak_db=s.true_peak_db,
                              margin_db=margin)
            if encode[1] == "pcm_s16le":
                write_wav(part, mastered.samples)
            else:
                raw = tmp / "master.f32"
                mastered.samples.astype("<f4").tofile(raw)
                run_ffmpeg(["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "2", "-i", str(raw),
                            *encode, str(part)], total_s=None, cancel=cancel)
            got = measure_loudness(part)
            over = got.true_peak_dbtp - s.true_peak_db
            if mastered.mode == "none" or not over > 0 or attempt == _ENCODE_TRIES - 1:
                break
            margin += over + 0.1
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)
    return got, mastered


def encode_master(master: str | Path, out: str | Path, *, audio_kbps: int, true_peak_db: float,
                  cancel: threading.Event | None = None) -> Loudness | None:
    """Encode a finished (normalised) WAV master to AAC at `audio_kbps` and measure it.

    Why: presets that share a loudness target but not a bitrate (TikTok 128k, Shorts 192k)
    need the same mix; encoding the master is one pass instead of the mix's eight. Returns
    None, leaving no file, if the encode's true peak went over `true_peak_db` (AAC can
    overshoot on transients): then the caller mixes straight to AAC, which corrects for it.
    """
    master, out = Path(master), Path(out)
    part = out.with_name(f".{out.name}.part")
    try:
        run_ffmpeg(["-i", str(master), "-ac", "2", "-ar", str(SAMPLE_RATE),
                    *_encode_args(out, audio_kbps), str(part)], total_s=None, cancel=cancel)
        got = measure_loudness(part)
        if got.true_peak_dbtp > true_peak_db:
            return None
        part.replace(out)
        return got
    finally:
        part.unlink(missing_ok=True)
