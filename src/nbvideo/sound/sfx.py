"""Sound effects: a small built-in library synthesized here, the user's own imported into the
project, and the cues (`model.sfx.SfxCue`) that place them on the film for the mix.

Why synthesize: a bundled sample pack needs a licence and a download; these are made from
noise and sines with numpy, from fixed seeds, so the same version gives the same samples on
every machine and the licence is the project's own. A built-in is rendered the first time a
project uses it, into assets/sfx/builtin/ (as the music bed is made into assets/music/), named
by SFX_VERSION so a change to the synthesis makes new files rather than reusing stale ones.

Imported effects are copied into assets/sfx/user/ as 48 kHz stereo WAV (decoding the file is
also the proof that it is audio) with a small JSON note (name, description, tags, source);
a file that is refused leaves nothing behind. Placement is one function, `effects_track`,
that the mix adds after ducking; the multi-track timeline's audio items can drive it later.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from nbvideo.errors import InvalidInput, MediaMissing, from_validation, quote
from nbvideo.media.audio_io import SAMPLE_RATE, convert_to_wav, read_wav, write_wav
from nbvideo.media.ffmpeg import FFmpegError
from nbvideo.model.sfx import EFFECT_NAME, SfxCue
from nbvideo.runtime.context import Runtime
from nbvideo.sound.master import max_momentary_lufs, sample_peaks
from nbvideo.sound.mix import VOICE_REF_LUFS
from nbvideo.store import imports
from nbvideo.store.imports import ImportRule

__all__ = ["BUILTIN", "SFX_HEADROOM_DB", "SFX_SUFFIXES", "SFX_VERSION", "Effect", "add_cue",
           "cue_rows", "effect_files", "effect_key", "effects_track", "import_effect", "library",
           "remove_cue", "synth_effect"]

SFX_VERSION = 1
"""Bump when a built-in's synthesis changes: cached files are named by it."""
PEAK = 10 ** (-1 / 20)
"""Every built-in's true peak (4x oversampled) is -1 dBTP in its own file."""
SFX_HEADROOM_DB = -3.0
"""No effect's true peak goes over this in the premix at gain_db=0 (a click's loudness alone
would put it far over full scale)."""
BUILTIN_DIR = "assets/sfx/builtin"
USER_DIR = "assets/sfx/user"
SFX_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac")
MAX_SFX_BYTES = 20 * 1024 * 1024
MAX_SFX_S = 30.0
MIN_SFX_S = 0.01
SILENT_PEAK = 1e-3
_END_FADE_S = 0.01
"""An effect cut by the film's end fades out over this long instead of clicking off."""


# --------------------------------------------------------------------------- synthesis

def _t(n: int) -> np.ndarray:
    return np.arange(n) / SAMPLE_RATE


def _bandpass(x: np.ndarray, centre_hz: np.ndarray, damping: float) -> np.ndarray:
    """`x` through a state-variable band-pass whose centre moves sample by sample (Chamberlin
    form; stable for centres under fs/6). A plain loop: effects are at most a few seconds."""
    f = (2 * np.sin(np.pi * np.minimum(centre_hz, SAMPLE_RATE / 6) / SAMPLE_RATE)).tolist()
    low = band = 0.0
    out = [0.0] * len(x)
    for i, v in enumerate(x.tolist()):
        low += f[i] * band
        high = v - low - damping * band
        band += f[i] * high
        out[i] = band
    return np.asarray(out)


def _pan(mono: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Equal-power pan: angle 0 is hard left, pi/2 hard right."""
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1)


def _whoosh(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise through a band-pass that sweeps up as it passes and back down, swelling and
    fading, panned left to right: something passing the camera."""
    u = np.linspace(0.0, 1.0, n)
    swell = np.sin(np.pi * u ** 0.8) ** 2  # peaks a little past the middle
    noise = rng.standard_normal(n)
    sweep = _bandpass(noise, 300 + 2600 * swell, 0.9)
    body = _bandpass(noise, 180 + 500 * swell, 1.4)
    return _pan((sweep + 0.6 * body) * swell, np.pi / 4 + (u - 0.5) * np.pi / 2.5)


def _riser(rng: np.random.Generator, n: int) -> np.ndarray:
    """A tone gliding up two octaves and more with a noise wash following it, growing louder to
    the end: tension before a reveal."""
    t, u = _t(n), np.linspace(0.0, 1.0, n)
    hz = 160 * (12.0 ** u)  # 160 Hz to 1.9 kHz, exponentially
    out = np.zeros((n, 2))
    for ch, cents in enumerate((-7.0, 7.0)):
        phase = 2 * np.pi * np.cumsum(hz * 2 ** (cents / 1200)) / SAMPLE_RATE
        out[:, ch] = np.sin(phase) + 0.35 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
    wash = _bandpass(rng.standard_normal(n), 2.5 * hz, 0.6)
    out += 0.8 * (wash / (np.abs(wash).max() or 1.0))[:, None]
    env = u ** 2.2 * (1 - np.exp(-t / 0.05))
    return out * env[:, None]


def _impact(rng: np.random.Generator, n: int) -> np.ndarray:
    """A hit: a falling low boom, a noise crack on top and a rumble dying away; nearly all of
    its energy is in the first few hundred milliseconds."""
    t = _t(n)
    hz = 38 + 90 * np.exp(-t / 0.07)
    boom = np.sin(2 * np.pi * np.cumsum(hz) / SAMPLE_RATE) * np.exp(-t / 0.32)
    crack = np.diff(rng.standard_normal(n), prepend=0.0) * np.exp(-t / 0.012)
    rumble = _bandpass(rng.standard_normal(n), np.full(n, 90.0), 1.2) * np.exp(-t / 0.25)
    mono = boom + 0.45 * crack + 0.5 * rumble / (np.abs(rumble).max() or 1.0)
    return np.stack([mono, mono], axis=1)


def _click(rng: np.random.Generator, n: int) -> np.ndarray:
    """A short dry tick: a 2.4 kHz ping and a few samples of bright noise, gone in ~10 ms."""
    t = _t(n)
    ping = np.sin(2 * np.pi * 2400 * t) * np.exp(-t / 0.003)
    tick = np.diff(rng.standard_normal(n), prepend=0.0) * np.exp(-t / 0.0012)
    mono = ping + 0.5 * tick
    return np.stack([mono, mono], axis=1)


def _pop(rng: np.random.Generator, n: int) -> np.ndarray:
    """A bubbly pop: a sine whose pitch jumps up from 280 Hz to ~950 Hz in a few
    milliseconds, decaying fast."""
    t = _t(n)
    hz = 950 - 670 * np.exp(-t / 0.008)
    body = np.sin(2 * np.pi * np.cumsum(hz) / SAMPLE_RATE)
    env = (1 - np.exp(-t / 0.0015)) * np.exp(-t / 0.028)
    air = 0.08 * np.diff(rng.standard_normal(n), prepend=0.0) * np.exp(-t / 0.004)
    mono = body * env + air
    return np.stack([mono, mono], axis=1)


@dataclass(frozen=True)
class Effect:
    """A sound effect as the library lists it."""

    name: str
    duration_s: float
    description: str
    tags: tuple[str, ...]
    source: str = "built-in"  # or "imported"
    path: str | None = None  # project path of an imported effect's WAV


_SYNTH: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "whoosh": _whoosh, "riser": _riser, "impact": _impact, "click": _click, "pop": _pop}

BUILTIN: dict[str, tuple[str, Effect]] = {  # name -> (synthesis, listing)
    e.name: (kind, e) for kind, e in (
        ("whoosh", Effect("whoosh", 0.8, "Filtered noise sweeping past, left to right.",
                          ("transition", "movement", "air"))),
        ("whoosh", Effect("whoosh-long", 1.6, "A slower pass of the whoosh, for longer moves.",
                          ("transition", "movement", "air", "slow"))),
        ("riser", Effect("riser", 2.5, "A tone and noise wash gliding up and swelling into a "
                         "cut.", ("build", "tension", "reveal"))),
        ("riser", Effect("riser-short", 1.2, "A quick riser into a cut.",
                         ("build", "tension", "reveal", "short"))),
        ("impact", Effect("impact", 1.2, "A low boom with a crack on top: a hit on a cut or a "
                          "logo.", ("hit", "boom", "logo", "accent"))),
        ("click", Effect("click", 0.03, "A short dry tick: a tap, a button, a UI beat.",
                         ("ui", "tap", "button", "short"))),
        ("pop", Effect("pop", 0.12, "A bubbly pop for text or stickers appearing.",
                       ("ui", "text", "appear", "short"))),
    )}


def synth_effect(name: str) -> np.ndarray:
    """A built-in effect's samples, float (frames, 2) at 48 kHz, true peak -1 dBTP.

    Deterministic: the seed is the name's CRC-32, so the same SFX_VERSION gives the same
    samples. Starts and ends are ramped (a millisecond in, five out) so nothing clicks."""
    if name not in BUILTIN:
        raise InvalidInput(f"sound effect {quote(name)} is not built in; built in: "
                           f"{', '.join(BUILTIN)}")
    kind, meta = BUILTIN[name]
    n = round(meta.duration_s * SAMPLE_RATE)
    x = _SYNTH[kind](np.random.default_rng(zlib.crc32(name.encode())), n)
    ramp_in, ramp_out = min(n // 4, SAMPLE_RATE // 1000), min(n // 4, SAMPLE_RATE // 200)
    x[:ramp_in] *= np.linspace(0.0, 1.0, ramp_in)[:, None]
    x[n - ramp_out:] *= np.linspace(1.0, 0.0, ramp_out)[:, None]
    return x * (PEAK / (float(sample_peaks(x).max()) or 1.0))  # true peak: clicks overshoot


# --------------------------------------------------------------------------- the library

def _note_path(rt: Runtime, name: str) -> Path:
    return rt.store.path(f"{USER_DIR}/{name}.json")


def _imported(rt: Runtime) -> list[Effect]:
    folder = rt.store.path(USER_DIR)
    out = []
    if folder.is_dir():
        for note in sorted(folder.glob("*.json")):
            try:
                kept = json.loads(note.read_text(encoding="utf-8"))
                out.append(Effect(kept["name"], float(kept["duration_s"]),
                                  str(kept.get("description", "")),
                                  tuple(kept.get("tags", ())), "imported", kept["path"]))
            except (ValueError, TypeError, KeyError):
                continue  # a damaged note lists nothing; its WAV stays on disk
    return out


def library(rt: Runtime | None = None) -> list[Effect]:
    """The built-in effects, then (with a project) the ones imported into it."""
    out = [meta for _kind, meta in BUILTIN.values()]
    return out + (_imported(rt) if rt is not None else [])


def _find(rt: Runtime, name: str) -> Effect:
    for e in library(rt):
        if e.name == name:
            return e
    raise InvalidInput(f"sound effect {quote(name)} is not in the library; built in: "
                       f"{', '.join(BUILTIN)}"
                       + (f"; imported: {', '.join(e.name for e in _imported(rt))}"
                          if _imported(rt) else "")
                       + "; import your own with p.import_sound_effect(path, name=...)")


def effect_path(rt: Runtime, name: str) -> str:
    """Where the named effect's WAV is kept in the project (a built-in's may not be rendered
    yet: `effect_files` makes it)."""
    e = _find(rt, name)
    return f"{BUILTIN_DIR}/{name}-v{SFX_VERSION}.wav" if e.source == "built-in" else str(e.path)


def effect_files(rt: Runtime, names: Sequence[str]) -> dict[str, Path]:
    """Each named effect's WAV in the project: a built-in is rendered on first use into
    assets/sfx/builtin/; an imported one is where its import put it."""
    out: dict[str, Path] = {}
    for name in dict.fromkeys(names):
        e = _find(rt, name)
        if e.source == "built-in":
            path = rt.store.path(f"{BUILTIN_DIR}/{name}-v{SFX_VERSION}.wav")
            if not path.is_file():
                write_wav(path, synth_effect(name))
        else:
            assert e.path is not None
            path = rt.store.path(e.path)
            if not path.is_file():
                raise MediaMissing(f"sound effect {quote(name)}: its file {e.path} is missing; "
                                   "import it again")
        out[name] = path
    return out


def _rule() -> ImportRule:
    """What an imported effect may be (read when called: the caps are this module's)."""
    return ImportRule(field="import_sound_effect", kind="audio", suffixes=SFX_SUFFIXES,
                      max_bytes=MAX_SFX_BYTES, dest=USER_DIR, stem="effect",
                      hint=f"give an audio file ({', '.join(SFX_SUFFIXES)}) of at most "
                           f"{imports.size_text(MAX_SFX_BYTES)} and {MAX_SFX_S:g} s")


def import_effect(rt: Runtime, given: str | os.PathLike[str], *, name: str,
                  description: str = "", tags: Sequence[str] = ()) -> Effect:
    """Copy an audio file into the project's effects as `name` (48 kHz stereo WAV) and list it.

    Refused (InvalidInput, nothing written) when the file fails the import gate (store/imports),
    the name is not lower-case letters, digits and dashes or is a built-in's, another file
    was imported under it, or the audio does not decode, is silent, or is not 0.01-30 s.
    Importing the same file under the same name again returns the existing effect."""
    if not isinstance(name, str) or not re.fullmatch(EFFECT_NAME, name):
        raise InvalidInput(f"import_sound_effect: name={name!r} must be 1-40 lower-case "
                           "letters, digits or dashes, starting with a letter or digit")
    if name in BUILTIN:
        raise InvalidInput(f"import_sound_effect: {name!r} is a built-in effect's name; "
                           "choose another")
    try:
        shown = Effect(name, 0.0, str(description)[:300], tuple(str(t)[:40] for t in tags)[:12])
        SfxCue(id="x00000000", effect=name, start_s=0)  # the name, as a cue will hold it
        from nbvideo.model.checked import text_problem

        for text in (shown.description, *shown.tags):
            if text_problem(text):
                raise InvalidInput(f"import_sound_effect: {quote(text)}: {text_problem(text)}")
    except ValidationError as exc:
        raise from_validation(exc, "import_sound_effect") from None
    rule = _rule()
    rt.require("edit", "import a sound effect")
    with imports.staged(given, rt.store.root, rule) as src:  # the original is not kept
        rel = f"{USER_DIR}/{name}-{src.sha256[:12]}.wav"
        note = _note_path(rt, name)
        if note.is_file():
            kept = json.loads(note.read_text(encoding="utf-8"))
            if kept.get("path") == rel and rt.store.path(rel).is_file():
                return _find(rt, name)
            raise InvalidInput(f"import_sound_effect: an effect named {name!r} was already "
                               f"imported from another file; choose another name, or remove "
                               f"{USER_DIR}/{name}.json and its WAV first")
        out = rt.store.path(rel)
        tmp = out.with_name(f".{name}.{uuid.uuid4().hex[:8]}.part.wav")
        try:
            try:
                convert_to_wav(src.path, tmp, channels=2)
                samples, _rate = read_wav(tmp)
            except (FFmpegError, OSError, ValueError) as exc:
                raise imports.refusal(rule, src.given, "is not audio that can be decoded "
                                      f"({type(exc).__name__})") from None
            seconds = len(samples) / SAMPLE_RATE
            if not MIN_SFX_S <= seconds <= MAX_SFX_S:
                raise imports.refusal(rule, src.given, f"is {seconds:.2f} s long; an effect is "
                                      f"{MIN_SFX_S:g}-{MAX_SFX_S:g} s")
            if float(np.abs(samples).max()) < SILENT_PEAK:
                raise imports.refusal(rule, src.given, "holds no sound")
            effect = Effect(name, round(seconds, 4), shown.description, shown.tags, "imported",
                            rel)
            imports.place(tmp, out, sha256=imports.file_sha256(tmp), rule=rule,
                          given=src.given)
        finally:
            tmp.unlink(missing_ok=True)
    body = {k: v for k, v in effect.__dict__.items() if k != "source"}
    body["tags"] = list(effect.tags)
    body["original"] = src.name
    part = note.with_name(f".{note.name}.part")
    part.write_text(json.dumps(body, indent=1), encoding="utf-8")
    part.replace(note)
    return effect


# --------------------------------------------------------------------------- cues

def add_cue(rt: Runtime, effect: str, *, at: float, gain_db: float = 0.0,
            fade_in_s: float = 0.0, fade_out_s: float = 0.0) -> SfxCue:
    """Place `effect` at `at` seconds on the film and save it; the next export mixes it in."""
    with rt.guard:
        _find(rt, effect)
        try:
            cue = SfxCue(id=f"x{uuid.uuid4().hex[:8]}", effect=effect, start_s=at,
                         gain_db=gain_db, fade_in_s=fade_in_s, fade_out_s=fade_out_s)
        except ValidationError as exc:
            raise from_validation(exc, "add_sound_effect") from None
        rt.state.sound_effects = sorted([*rt.state.sound_effects, cue],
                                        key=lambda c: (c.start_s, c.id))
        rt.save()
        return cue


def remove_cue(rt: Runtime, cue: str | int) -> SfxCue:
    """Take a placed effect off the film, by its id or its 1-based row in `cue_rows`."""
    with rt.guard:
        cues = list(rt.state.sound_effects)
        if isinstance(cue, int) and not isinstance(cue, bool):
            if not 1 <= cue <= len(cues):
                raise InvalidInput(f"remove_sound_effect: {cue} is out of range 1..{len(cues)}")
            gone = cues[cue - 1]
        else:
            found = [c for c in cues if c.id == cue]
            if not found:
                raise InvalidInput(f"remove_sound_effect: no placed effect has id {quote(str(cue))};"
                                   f" ids: {[c.id for c in cues]}")
            gone = found[0]
        rt.state.sound_effects = [c for c in cues if c.id != gone.id]
        rt.save()
        return gone


def cue_rows(rt: Runtime, film_s: float | None) -> list[dict[str, Any]]:
    """One row per placed effect, in time order: where it plays and whether it does (a cue
    that starts at or after the film's end, `film_s`, is left out of the mix)."""
    lengths = {e.name: e.duration_s for e in library(rt)}
    rows = []
    for c in rt.state.sound_effects:
        length = lengths.get(c.effect)
        rows.append({"id": c.id, "effect": c.effect, "start_s": c.start_s,
                     "end_s": round(c.start_s + length, 4) if length is not None else None,
                     "gain_db": c.gain_db, "fade_in_s": c.fade_in_s, "fade_out_s": c.fade_out_s,
                     "plays": length is not None and (film_s is None or c.start_s < film_s)})
    return rows


def effects_track(cues: Sequence[SfxCue], files: Mapping[str, Path],
                  duration_s: float) -> np.ndarray | None:
    """The effects placed on a film of `duration_s`: float (frames, 2) at 48 kHz, each cue
    at its start to the sample, with its linear fades, at its gain over the reference level:
    an effect's loudest 400 ms as loud as the voice stem (`mix.VOICE_REF_LUFS`), its true
    peak at most SFX_HEADROOM_DB, so a whoosh or a click reads about as loud as a word; effects
    that overlap are summed. A cue starting at or after the end is left out; one running
    past the end is cut there with a short fade. None when no cue plays."""
    total = round(duration_s * SAMPLE_RATE)
    track = np.zeros((total, 2))
    played = False
    level: dict[str, tuple[np.ndarray, float]] = {}  # effect -> (samples, reference gain dB)
    for c in cues:
        at = round(c.start_s * SAMPLE_RATE)
        if at >= total:
            continue
        if c.effect not in level:
            x, _rate = read_wav(files[c.effect])
            x = (np.repeat(x, 2, axis=1) if x.shape[1] == 1 else x[:, :2]).astype(np.float64)
            by_loudness = VOICE_REF_LUFS - max_momentary_lufs(x)
            by_peak = SFX_HEADROOM_DB - 20 * math.log10(float(sample_peaks(x).max()) or 1.0)
            level[c.effect] = (x, min(by_loudness, by_peak))
        x, ref_db = level[c.effect]
        x = x * 10 ** ((ref_db + c.gain_db) / 20)
        for seconds, rising in ((c.fade_in_s, True), (c.fade_out_s, False)):
            n = min(len(x), round(seconds * SAMPLE_RATE))
            if n:
                ramp = np.linspace(0.0, 1.0, n)[:, None]
                if rising:
                    x[:n] *= ramp
                else:
                    x[len(x) - n:] *= ramp[::-1]
        if at + len(x) > total:
            x = x[:total - at]
            n = min(len(x), round(_END_FADE_S * SAMPLE_RATE))
            x[len(x) - n:] *= np.linspace(1.0, 0.0, n)[:, None]
        track[at:at + len(x)] += x
        played = True
    return track if played else None


def effect_key(cues: Sequence[SfxCue], files: Mapping[str, Path],
               duration_s: float) -> list[list[Any]]:
    """What decides the effects track's samples, for a soundtrack's cache key."""
    total = round(duration_s * SAMPLE_RATE)
    return [[c.effect, files[c.effect].name, c.start_s, c.gain_db, c.fade_in_s, c.fade_out_s]
            for c in cues if round(c.start_s * SAMPLE_RATE) < total]
