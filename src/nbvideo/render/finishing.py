"""Finishing one export: end card, text on screen, logo, voice-over and music, and the checks
a platform preset asks for, all prepared before a frame is encoded.

The pieces are pure modules (brand, captions, overlays, audio, presets); this one reads the
project's `Finishing` settings and its timeline and turns them into what the export engine
takes: extra clips, one overlay graph, one soundtrack file, and the caption cues for the
SRT/VTT sidecars. Voice lines are paid calls, so each is cached by its request key under
assets/voice/ and logged in the ledger like any other take (a re-export costs nothing).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbvideo.edit.captions import Cue, burn_in, cues_from_lines
from nbvideo.edit.overlays import (
    end_card,
    end_card_falls_back,
    logo_overlay,
    logo_rect,
    warn_end_card,
)
from nbvideo.edit.timeline import Entry
from nbvideo.edit.word_captions import (
    DEFAULT_HIGHLIGHT,
    WordCue,
    ass_sidecar,
    burn_in_words,
    cue_words,
    fonts_dir,
)
from nbvideo.errors import InvalidInput
from nbvideo.generate.lipsync import lip_synced
from nbvideo.keys import redact
from nbvideo.model.presets import ExportFacts, Preset, Violation, check_export, enforce
from nbvideo.model.speech import LineWords
from nbvideo.model.state import MAX_SCENE_S, Finishing, Scene, Transition
from nbvideo.providers.base import ProviderError, SpeechRequest, SpeechResult, Usage
from nbvideo.render.engine import RenderClip, plan_duration
from nbvideo.render.overlay_items import ItemsGraph
from nbvideo.render.track_layers import Sounds, overlay_layers, sounds
from nbvideo.runtime.context import Runtime, canonical, request_key
from nbvideo.runtime.jobs import run_sync
from nbvideo.sound.ending import Ending, music_ending
from nbvideo.sound.loudness import measure_loudness
from nbvideo.sound.mix import (
    MAX_TEMPO,
    encode_master,
    fit_tempo,
    line_overruns,
    mix,
    music_bed,
    place_voice,
    speed_up,
)
from nbvideo.sound.sfx import effect_files, effect_key, effects_track
from nbvideo.store.brands import BrandKit, CaptionStyle

VOICE_LEAD_S = 0.15  # a line starts this far into its scene, so cuts do not clip the first word
FIT_BREATH_S = 0.1  # a sped or lengthened line ends this far before its scene does
_MIX_TARGET = {"lufs": -14.0, "tp": -1.0, "kbps": 192}  # without a preset: social-video norms


@dataclass
class Prepared:
    """What the export engine needs for one output, plus what the checks found."""

    clips: list[RenderClip]
    overlay: str | None = None
    audio: Path | None = None
    audio_lufs: float | None = None
    cues: list[Cue] = field(default_factory=list)
    word_cues: list[WordCue] = field(default_factory=list)
    ass: str | None = None  # the ASS sidecar: the captions with each word's time
    warnings: list[Violation] = field(default_factory=list)
    # Seconds of the film the overlay draws on (smart export re-encodes only those);
    # None when it draws on every frame (a logo watermark).
    overlay_spans: list[tuple[float, float]] | None = None
    # The overlay for one stretch of the film (start_s, end_s): only the track items there,
    # so a smart export keys each piece by the items it shows (None: `overlay` everywhere).
    overlay_for: Callable[[float, float], str | None] | None = None
    # With `prepare(defer_sound=True)`: makes the soundtrack when called ((path, LUFS), as
    # `audio` and `audio_lufs` would be), so a live preview's picture starts before the mix
    # is done. None otherwise (the sound is already in `audio`).
    sound: Callable[[], tuple[Path | None, float | None]] | None = None


def voice_model_name(rt: Runtime) -> tuple[str, str]:
    """(provider, model) of the voice-over: the one named in the settings, else OpenAI's
    where the project has OpenAI, else the offline espeak-ng voice. Known without building
    the client, so views can find a line's cached audio with no key at hand. A catalog model
    names its vendor; any other name is a model on an OpenAI-compatible server."""
    from nbvideo.providers.catalog import models

    f = rt.state.finishing
    model = f.voice_model or ("gpt-4o-mini-tts" if "openai" in rt.providers.vendors
                              else "espeak-ng")
    vendor = {m.id: m.provider for m in models("audio")}.get(model, "openai")
    return vendor, model


def voice_model(rt: Runtime) -> Any:
    """The speech model that `voice_model_name` names (paid ones ask for their key at their
    first call, so a re-export of lines already spoken needs none)."""
    provider, model = voice_model_name(rt)
    if provider == "local":
        from nbvideo.providers.local.voice import EspeakVoice

        return EspeakVoice()
    if provider == "elevenlabs":
        from nbvideo.providers.elevenlabs import ElevenLabsSpeech

        return ElevenLabsSpeech(model, key_on_use=True)
    from nbvideo.providers.openai_tts import OpenAISpeech

    return OpenAISpeech(model)


def voice_estimate(model: Any, req: SpeechRequest) -> float:
    """What the money gate reserves for one line: the voice model's own upper bound
    (`estimate_usd`), or 0 for a model without a price (the offline voice)."""
    estimate = getattr(model, "estimate_usd", None)
    return float(estimate(req)) if estimate is not None else 0.0


def line_request(rt: Runtime, scene: Scene, provider: str, model: str
                 ) -> tuple[SpeechRequest, str, Path]:
    """A scene's voice line as a speech request, its cache key and where its WAV is kept.

    The finishing `voice_settings` reach it as `speed` (every model) and, for models that
    take them, `settings`; unset, neither is in the key, so lines made before the settings
    existed keep their keys (and their audio)."""
    tuning = rt.state.finishing.voice_settings
    extra = tuning.model_copy(update={"speed": None})
    req = SpeechRequest(text=scene.voice_line.strip(), voice=rt.state.finishing.voice,
                        seed=rt.state.seed, speed=tuning.speed,
                        settings=extra if provider in TUNED and extra.given() else None)
    inputs = req.model_dump(mode="json")
    if inputs.get("settings") is None:
        inputs.pop("settings", None)
    key = request_key(provider, model, inputs, req.seed)
    return req, key, rt.store.path(f"assets/voice/{scene.id}-{key[:16]}.wav")


TUNED = ("elevenlabs",)
"""Vendors whose voice models take stability, similarity_boost, style, use_speaker_boost."""


def words_path(wav: Path) -> Path:
    """Where a voice line's word timings are kept: beside its WAV."""
    return wav.with_name(wav.stem + ".words.json")


def line_words(wav: Path, text: str, result: SpeechResult | None = None) -> LineWords:
    """The word timings of the voice line in `wav`: read from its sidecar; else the ones the
    voice model gave (`result`); else estimated from the audio; the sidecar is written if it
    was missing or no longer matches the text, so each line is worked out once."""
    from nbvideo.media.audio_io import read_wav
    from nbvideo.media.word_times import estimate_words

    side = words_path(wav)
    if side.is_file():
        try:
            kept = LineWords.model_validate_json(side.read_text(encoding="utf-8"))
            if kept.text == text:
                return kept
        except ValueError:
            pass  # a damaged sidecar is worked out again below
    if result is not None and result.timings and result.words:
        got = LineWords(text=text, duration_s=result.duration_s, timings=result.timings,
                        words=result.words)
    else:
        samples, rate = read_wav(wav)
        got = LineWords(text=text, duration_s=len(samples) / rate, timings="estimated",
                        words=estimate_words(samples, rate, text))
    part = side.with_name(side.name + ".part")
    part.write_text(got.model_dump_json(indent=1), encoding="utf-8")
    part.replace(side)
    return got


def speak_lines(rt: Runtime, entries: list[Entry]) -> dict[str, tuple[Path, float]]:
    """Each scene's voice line as a WAV (scene id -> (path, seconds)), made once per request,
    with its word timings kept beside it (`line_words`)."""
    f = rt.state.finishing
    if not f.voice:
        return {}
    model = voice_model(rt)
    out: dict[str, tuple[Path, float]] = {}
    for e in entries:
        if e.scene.voice_line.strip() and e.scene.kind != "presenter" \
                and not lip_synced(e.clip):  # presenters and lip syncs say it in their shot
            out[e.scene.id] = _speak(rt, model, e.scene)
    return out


def speak_line(rt: Runtime, scene: Scene) -> tuple[Path, float]:
    """One scene's voice line as the export speaks it (same request, same cached WAV, same
    ledger rows), for a lip sync to put in the clip."""
    if not rt.state.finishing.voice:
        raise InvalidInput("voice='line' speaks the scene's voice line with the voice-over's "
                           "voice, and none is set; choose one first, e.g. "
                           "p.finish(voice='narrator-f') (nv.voices() lists them), or pass a "
                           "recorded WAV/MP3 as voice=")
    if not scene.voice_line.strip():
        raise InvalidInput(f"voice='line': scene {scene.id} has no voice_line; write one with "
                           "p.edit_scene(..., voice_line='...') or pass a recorded WAV/MP3")
    return _speak(rt, voice_model(rt), scene)


def _speak(rt: Runtime, model: Any, scene: Scene) -> tuple[Path, float]:
    """A scene's line as a WAV (path, seconds): the cached one, or made through the gate."""
    req, key, wav = line_request(rt, scene, model.provider, model.model)
    common = {"phase": "voice", "scene": scene.id, "provider": model.provider,
              "model": model.model, "key": key}
    if wav.is_file():
        from nbvideo.media.audio_io import read_wav

        samples, rate = read_wav(wav)
        line_words(wav, req.text)  # a line spoken before word timings were kept gets them
        rt.log_cache_hit(**common, note="voice line already made")
        return wav, len(samples) / rate
    wav.parent.mkdir(parents=True, exist_ok=True)
    estimate = voice_estimate(model, req)
    common["estimated_usd"] = estimate or None
    with rt.paid(phase="voice", provider=model.provider, model=model.model,
                 estimate_usd=estimate, item=f"voice line for scene {scene.id}",
                 scene=scene.id, key=key) as held:
        started = time.perf_counter()
        try:
            result = run_sync(model.speak(req, wav))
        except Exception as exc:
            billed = exc.usage if isinstance(exc, ProviderError) else Usage()
            held.actual_usd = billed.cost_usd
            rt.log_usage(**common, usage=billed, latency_s=time.perf_counter() - started,
                         status="failed", note=redact(str(exc))[:200])
            raise
        held.actual_usd = result.usage.cost_usd
        rt.log_usage(**common, usage=result.usage, latency_s=time.perf_counter() - started)
    line_words(wav, req.text, result)
    return wav, result.duration_s


def clip_lines(rt: Runtime, entries: list[Entry]) -> dict[str, tuple[Path, float]]:
    """The lines of lip-synced scenes, taken from their clips' own audio (one source of
    truth: the synced speech is not laid again from the voice-over's WAV).

    The clip carries its line `VOICE_LEAD_S` into the clip (generate/lipsync.py placed it so),
    so the audio from the entry's in-point plus the lead, placed where the export places a
    voice line, lines up with the picture frame for frame."""
    from nbvideo.media.audio_io import SAMPLE_RATE, decode, write_wav

    fps = rt.state.brief.fps
    out: dict[str, tuple[Path, float]] = {}
    for e in entries:
        take = e.clip
        if not lip_synced(take) or take is None or take.path is None:
            continue
        src = rt.store.path(take.path)
        start = e.trim_in_s + VOICE_LEAD_S
        seconds = max(0.0, e.frames / fps - VOICE_LEAD_S)
        wav = rt.store.path(f"assets/voice/lipsync/clip-{take.id}-{start:.3f}-{seconds:.3f}.wav")
        if not wav.is_file():
            samples = decode(src, rate=SAMPLE_RATE, channels=1, start_s=start,
                             duration_s=seconds)
            write_wav(wav, samples)
        spoken = float(take.inputs["lip_sync"].get("line_s") or seconds)
        out[e.scene.id] = (wav, min(spoken, seconds))  # captions last as long as the line
    return out


def presenter_lines(rt: Runtime, entries: list[Entry]) -> dict[str, tuple[Path, float]]:
    """Each presenter scene's own sound, as the timeline plays it: the chosen take's audio
    from its trim-in for the seconds kept (scene id -> (WAV, seconds of speech)), extracted
    once per take and trim under assets/voice/. Placed at the scene's start, it stays in
    sync with the picture; it is the scene's only voice (no voice-over line is spoken)."""
    from nbvideo.media.audio_io import decode, write_wav

    out: dict[str, tuple[Path, float]] = {}
    fps = rt.state.brief.fps
    for e in entries:
        clip = e.clip
        if e.scene.kind != "presenter" or clip is None or not clip.ok or clip.path is None:
            continue
        kept = e.frames / fps
        wav = rt.store.path(f"assets/voice/presenter-{e.scene.id}-{clip.id}-"
                            f"{e.trim_in_s:.3f}-{kept:.3f}.wav")
        if e.effects.timed:  # the line as the effects play it (pitch kept)
            from nbvideo.render.effects import effected_sound

            try:
                wav = effected_sound(rt, rt.store.path(clip.path), e.trim_in_s, e.kept_s,
                                     e.effects)
            except Exception:  # a shot without sound (a silent presenter): nothing to place
                continue
        elif not wav.is_file():
            try:
                samples = decode(rt.store.path(clip.path), channels=1, start_s=e.trim_in_s,
                                 duration_s=kept)
            except Exception:  # a shot without sound (a silent presenter): nothing to place
                continue
            write_wav(wav, samples)
        from nbvideo.media.audio_io import read_wav

        samples, rate = read_wav(wav)
        loud = abs(samples).max(axis=1) > 0.01 if len(samples) else samples
        spoken = (float(loud.nonzero()[0][-1] + 1) / rate) if len(samples) and loud.any() else 0.0
        if spoken > 0:
            out[e.scene.id] = (wav, spoken)
    return out


def _soundtrack(rt: Runtime, entries: list[Entry], total_s: float, lines: dict[str, tuple[Path, float]],
                preset: Preset | None, work: Path,
                own: dict[str, tuple[Path, float]] | None = None
                ) -> tuple[Path | None, float | None]:
    """Voice placed at each scene's start and the music under it, mixed to the loudness
    target, cached by everything that decides its samples. `own`: presenter scenes' sound,
    placed at their scene's very start (it carries its own lead-in)."""
    f = rt.state.finishing
    music: Path | None = None
    if f.music == "bed":
        music = rt.store.path(f"assets/music/bed-{rt.state.seed}-{total_s:.3f}.wav")
        if not music.is_file():
            music.parent.mkdir(parents=True, exist_ok=True)
            music_bed(music, total_s, seed=rt.state.seed)
    elif f.music != "none":
        music = rt.store.path(f.music)
        if not music.is_file():
            raise InvalidInput(f"finishing.music: {f.music} is not a file in the project; "
                               "use 'bed', 'none' or a path inside the project folder")
    own = own or {}
    cues = rt.state.sound_effects
    files = effect_files(rt, [c.effect for c in cues]) if cues else {}
    placed_fx = effect_key(cues, files, total_s) if cues else []
    snd = sounds(rt, entries, total_s)
    if "music" not in snd.heard:
        music = None
    if "voice" not in snd.heard:
        lines, own = {}, {}
    if not lines and not own and music is None and not placed_fx \
            and not (snd.voice or snd.music or snd.effects):
        return None, None
    lufs, tp, kbps = ((preset.loudness_lufs, preset.true_peak_db, preset.audio_kbps) if preset
                      else (_MIX_TARGET["lufs"], _MIX_TARGET["tp"], _MIX_TARGET["kbps"]))
    placed = [(round(e.start_s + VOICE_LEAD_S, 6), lines[e.scene.id][0])
              for e in entries if e.scene.id in lines]
    if own:  # only then: a project without presenters keeps its soundtrack keys (and bytes)
        placed = sorted([*placed, *((round(e.start_s, 6), own[e.scene.id][0])
                                    for e in entries if e.scene.id in own)],
                        key=lambda x: x[0])
    what = {"lines": [(t, p.name) for t, p in placed], "music": str(music), "total": total_s,
            "lufs": lufs, "tp": tp}
    ending = None
    if music is not None and f.music_ending == "beat":
        ending = music_ending_for(rt, entries, total_s, lines, own, snd)
        # only when it moves: a project whose music fades with the film keeps its keys
        if (ending.end_s, ending.fade_s) != (round(total_s, 6), _MIX_FADE_S):
            what["ending"] = [ending.end_s, ending.fade_s]
    if placed_fx:  # only then: a project without effects keeps its soundtrack keys
        what["sfx"] = placed_fx
    if snd.changed:  # only then: a project without track items keeps its soundtrack keys
        what["tracks"] = snd.key()
    key = hashlib.sha256(canonical({**what, "kbps": kbps}).encode()).hexdigest()[:16]
    out = rt.store.path(f"assets/soundtracks/{key}.m4a")
    facts = out.with_suffix(".json")  # its measured loudness: a re-export measures nothing
    if out.is_file() and facts.is_file():
        try:
            return out, float(json.loads(facts.read_text())["integrated_lufs"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged note is measured again below
    if out.is_file():
        got = measure_loudness(out).integrated_lufs
    else:
        # One normalised WAV master per loudness target; each bitrate is an encode of it,
        # so presets that differ only in audio_kbps share the mix (voice, ducking, loudnorm).
        master_key = hashlib.sha256(canonical(what).encode()).hexdigest()[:16]
        master = rt.store.path(f"assets/soundtracks/master-{master_key}.wav")
        if not master.is_file():
            mix(master, total_s, target_lufs=lufs, true_peak_db=tp,
                sfx=effects_track(cues, files, total_s) if placed_fx else None,
                **_stems(placed, music, snd, total_s, work), **_ending_args(ending))
        encoded = encode_master(master, out, audio_kbps=kbps, true_peak_db=tp)
        if encoded is None:  # the AAC encode overshot the ceiling: mix straight to AAC
            got = mix(out, total_s, target_lufs=lufs, true_peak_db=tp, audio_kbps=kbps,
                      sfx=effects_track(cues, files, total_s) if placed_fx else None,
                      **_stems(placed, music, snd, total_s, work),
                      **_ending_args(ending)).integrated_lufs
        else:
            got = encoded.integrated_lufs
        rt.log(phase="export", provider="local", model="ffmpeg", units=total_s, unit="second",
               note=f"soundtrack {out.name}: {got:.1f} LUFS")
    facts.write_text(json.dumps({"integrated_lufs": got}))
    return out, got


_MIX_FADE_S = 1.5  # MixSettings().fade_out_s, the fade an ending of None keeps


def _ending_args(ending: Ending | None) -> dict[str, float]:
    """The mix's settings for where the music stops (nothing: the fade ends with the film)."""
    if ending is None:
        return {}
    return {"music_end_s": ending.end_s, "fade_out_s": ending.fade_s}


def last_voice_s(rt: Runtime, entries: list[Entry], lines: dict[str, tuple[Path, float]],
                 own: dict[str, tuple[Path, float]] | None = None,
                 snd: Sounds | None = None) -> float | None:
    """When the last word of the voice-over ends on the film: each line's last word where
    its word timings are known (p.voice_words()), else where its sound ends (a presenter's
    or lip sync's own line, a line without timings); sounds on the voice track count too.
    None: nothing is said."""
    ends: list[float] = []
    by_scene: dict[str, float] = {}
    if lines:
        for row in word_rows(rt, entries):
            if row["scene"] in lines:
                by_scene[row["scene"]] = max(by_scene.get(row["scene"], 0.0), row["film_end_s"])
    for e in entries:
        if e.scene.id in by_scene:
            ends.append(by_scene[e.scene.id])
        elif e.scene.id in lines:  # (its seconds as placed: sped up already, if it was)
            ends.append(e.start_s + VOICE_LEAD_S + lines[e.scene.id][1])
        if own and e.scene.id in own:
            ends.append(e.start_s + own[e.scene.id][1])
    if snd is not None and "voice" in snd.heard:
        ends += [p.start_s + p.duration_s for p in snd.voice]
    return round(max(ends), 4) if ends else None


def music_ending_for(rt: Runtime, entries: list[Entry], total_s: float,
                     lines: dict[str, tuple[Path, float]],
                     own: dict[str, tuple[Path, float]] | None = None,
                     snd: Sounds | None = None) -> Ending:
    """Where the export's music stops (sound/ending.py): on a beat after the last word."""
    from nbvideo.render.music_grid import music_beats

    return music_ending(total_s, music_beats(rt, total_s).times,
                        last_voice_s(rt, entries, lines, own, snd))


def _stems(placed: list[tuple[float, Path]], music: Path | None, snd: Sounds, total_s: float,
           work: Path) -> dict[str, Any]:
    """The mix's stems: the voice lines (and the voice track's sounds), the music (and the
    music track's), the sound effects and clip sound; the music track's gain as its level."""
    from nbvideo.sound.mix import MixSettings
    from nbvideo.sound.track_items import place_sounds

    voice = (place_voice(placed, total_s, work / "voice.wav", past_end="fade")
             if placed else None)
    if snd.voice:
        voice = place_sounds(snd.voice, total_s, work / "voice-track.wav", base=voice)
    if snd.music:
        music = place_sounds(snd.music, total_s, work / "music-track.wav", base=music)
    out: dict[str, Any] = {"voice": voice, "music": music}
    if snd.effects:
        out["effects"] = place_sounds(snd.effects, total_s, work / "effects.wav")
    if snd.music_db:
        base = MixSettings().music_db
        out["music_db"] = max(-30.0, min(6.0, base + snd.music_db))
    return out


def _end_card_path(rt: Runtime, kit: BrandKit, w: int, h: int, fps: int,
                   safe: Any, card_s: float) -> Path:
    """Cached by everything that decides its pixels: the kit (a palette or CTA change makes a
    new card), the size, fps, length and the preset's safe area; "colour" names its encoding
    (BT.709 since cards made with ffmpeg's default matrix and no tags)."""
    what: dict[str, Any] = {"kit": kit.model_dump(mode="json"), "base": str(kit.base_dir),
                            "colour": "bt709",
                            "safe": safe.model_dump(mode="json") if safe is not None else None,
                            "fps": fps, "s": card_s}
    if end_card_falls_back(kit):  # a card made before fallback fonts had blanks or boxes
        what["glyphs"] = 1
    key = hashlib.sha256(canonical(what).encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() else "-" for c in kit.name.lower())
    return rt.store.path(f"assets/endcards/{slug}-{w}x{h}-{fps}-{key}.mp4")


def caption_cues(entries: list[Entry], voice_s: dict[str, float], scene_s: dict[str, float],
                 fps: float) -> list[Cue]:
    """The burned-in captions: each scene's voice line from when it is spoken until it ends
    or the scene does, whichever is first (`voice_s`: seconds of each spoken line)."""
    return cues_from_lines([(e.start_s + VOICE_LEAD_S,
                             min(e.start_s + VOICE_LEAD_S + voice_s[e.scene.id],
                                 e.start_s + scene_s[e.scene.id]),
                             e.scene.voice_line) for e in entries if e.scene.id in voice_s], fps)


@dataclass(frozen=True)
class LineFit:
    """How a scene's voice line fits its scene, before or after it is spoken.

    `max_words` is what the planner writes for a scene this long; `voice_s` is the spoken
    line's length when its audio is already made (`measured`), else an estimate at the
    planner's speaking rate, after `voice_fit="speed"` played it `tempo` times faster;
    `over_s` is what the export would report as an overrun."""

    scene_id: str
    words: int
    max_words: int
    scene_s: float
    voice_s: float
    measured: bool
    over_s: float
    tempo: float = 1.0

    @property
    def fits(self) -> bool:
        return self.over_s <= 0 and (self.measured or self.tempo > 1
                                     or self.words <= self.max_words)


def line_fits(rt: Runtime, entries: list[Entry]) -> dict[str, LineFit]:
    """Each scene's voice line against its scene, by scene id (an empty line fits).

    Reads only what is on disk: no line is spoken and nothing is paid for."""
    from nbvideo.media.audio_io import wav_duration
    from nbvideo.providers.local.planner import SPEAKING_RATE_WPS, voice_words

    fps = rt.state.brief.fps
    named = voice_model_name(rt) if rt.state.finishing.voice else None
    out: dict[str, LineFit] = {}
    for e in entries:
        words = len(e.scene.voice_line.split())
        scene_s = e.frames / fps
        voice_s, measured = words / SPEAKING_RATE_WPS, False
        if named is not None and words:
            wav = line_request(rt, e.scene, *named)[2]
            if wav.is_file():
                voice_s, measured = wav_duration(wav), True
        tempo = 1.0
        if rt.state.finishing.voice_fit == "speed":
            tempo = fit_tempo(voice_s, scene_s - VOICE_LEAD_S - FIT_BREATH_S)
            voice_s /= tempo
        over = line_overruns([(e.scene.id, scene_s - VOICE_LEAD_S, voice_s)])
        out[e.scene.id] = LineFit(e.scene.id, words, voice_words(scene_s), round(scene_s, 6),
                                  round(voice_s, 3), measured, over[0].seconds_over if over else 0.0,
                                  tempo)
    return out


def word_rows(rt: Runtime, entries: list[Entry]) -> list[dict[str, Any]]:
    """One row per word of each voice line already spoken: its times in the line (`start_s`,
    `end_s`) and on the film as the export places it (`film_start_s`, `film_end_s`: after the
    scene's lead-in, faster by the line's tempo under `voice_fit="speed"`), and whether the
    voice model gave them or they were estimated. Speaks nothing; a spoken line whose words
    were never worked out (made before they were kept) is estimated from its audio now."""
    f = rt.state.finishing
    if not f.voice:
        return []
    named = voice_model_name(rt)
    fits = line_fits(rt, entries)
    rows: list[dict[str, Any]] = []
    for e in entries:
        text = e.scene.voice_line.strip()
        if not text:
            continue
        req, _key, wav = line_request(rt, e.scene, *named)
        if not wav.is_file():
            continue
        kept = line_words(wav, req.text)
        tempo = fits[e.scene.id].tempo if e.scene.id in fits else 1.0
        at = e.start_s + VOICE_LEAD_S
        for i, w in enumerate(kept.words):
            rows.append({"scene": e.scene.id, "number": e.number, "word_index": i,
                         "word": w.word, "start_s": w.start_s, "end_s": w.end_s,
                         "film_start_s": round(at + w.start_s / tempo, 4),
                         "film_end_s": round(at + w.end_s / tempo, 4),
                         "timings": kept.timings, "provider": named[0], "model": named[1]})
    return rows


def fit_lines(rt: Runtime, entries: list[Entry], lines: dict[str, tuple[Path, float]]
              ) -> tuple[dict[str, tuple[Path, float]], dict[str, float]]:
    """With `voice_fit="speed"`, each line longer than its scene played faster to fit (at
    most MAX_TEMPO), cached beside the line; returns the lines and each sped line's tempo."""
    if rt.state.finishing.voice_fit != "speed":
        return lines, {}
    from nbvideo.media.audio_io import wav_duration

    out, tempos = dict(lines), {}
    for e in entries:
        if e.scene.id not in lines:
            continue
        wav, secs = lines[e.scene.id]
        tempo = fit_tempo(secs, e.frames / rt.state.brief.fps - VOICE_LEAD_S - FIT_BREATH_S)
        if tempo > 1:
            fast = wav.with_name(f"{wav.stem}-x{tempo:.3f}.wav")
            if not fast.is_file():
                speed_up(wav, tempo, fast)
            out[e.scene.id], tempos[e.scene.id] = (fast, wav_duration(fast)), tempo
    return out, tempos


def overrun_warning(e: Entry, voice_s: float, over_s: float, fps: int,
                    speeding: bool, preset: str) -> Violation:
    """The voice_overrun warning: how far over the line is and the three ways to fix it,
    as the calls that do it."""
    room = e.frames / fps - VOICE_LEAD_S
    words = len(e.scene.voice_line.split())
    fewer = max(1, int(words * max(room - FIT_BREATH_S, 0.0) / voice_s)) if voice_s else words
    longer = min(MAX_SCENE_S, math.ceil((e.scene.duration_s + over_s + FIT_BREATH_S) * 10) / 10)
    need = voice_s / max(room - FIT_BREATH_S, 1e-6)
    speed = (f"it is already sped up as far as it goes ({MAX_TEMPO:g}x)" if speeding else
             f'speed the voice, p.finish(voice_fit="speed") ({min(need, MAX_TEMPO):.2f}x'
             f"{'' if need <= MAX_TEMPO else f', not enough: it needs {need:.2f}x'})")
    return Violation(
        code="voice_overrun", severity="warning", preset=preset, item=e.scene.id,
        message=f"the voice line of scene {e.number} ({e.scene.id}) runs {voice_s:.2f} s, "
                f"{over_s:.2f} s longer than its scene; shorten the line to about {fewer} "
                f"words, p.edit_scene({e.number}, voice_line=...); lengthen the scene, "
                f"p.edit_scene({e.number}, duration_s={longer:g}), then p.generate_clips(); "
                f"or {speed}. accept=['voice_overrun'] exports it as it is: the line runs "
                "over the next scene, or fades out at the end of the film")


def _accepts(accept: bool | Sequence[str], code: str) -> bool:
    return accept is True or (not isinstance(accept, bool) and code in accept)


def prepare(rt: Runtime, entries: list[Entry], clips: list[RenderClip], size: tuple[int, int],
            fps: int, preset: Preset | None, work: Path,
            accept: bool | Sequence[str] = (), *, defer_sound: bool = False) -> Prepared:
    """Everything one export needs from the finishing settings, checked against `preset`.

    A voice line longer than its scene stops here, before any audio is mixed, unless
    `accept` takes `voice_overrun` (then the line runs on, or fades out at the film's end).
    `defer_sound`: leave the mix to `Prepared.sound` (a live preview shows its first frame
    before the soundtrack is mixed); `work` must then outlive that call, and a preset's
    checks of the sound are not made."""
    f: Finishing = rt.state.finishing
    w, h = size
    kit = rt.brand_kit()
    safe = preset.safe_area if preset is not None else None
    clips = list(clips)
    card_s = 0.0
    if kit is not None and f.end_card:
        card_s = kit.end_card.duration_s
        card = _end_card_path(rt, kit, w, h, fps, safe, card_s)
        warn_end_card(kit)
        if not card.is_file():
            card.parent.mkdir(parents=True, exist_ok=True)
            end_card(kit, w, h, card, fps=fps, duration_s=card_s, safe_area=safe, warn=False)
        clips[-1] = clips[-1].model_copy(update={"transition": Transition()})
        clips.append(RenderClip(path=card, duration_s=card_s))
    _frames, total_s = plan_duration(clips, fps)

    spoken = speak_lines(rt, entries)
    lines, tempos = fit_lines(rt, entries, spoken)
    synced = clip_lines(rt, entries)
    lines.update(synced)  # lip-synced scenes: the line is the clip's own
    own = presenter_lines(rt, entries)
    scene_s = {e.scene.id: e.frames / rt.state.brief.fps for e in entries}
    overruns = {o.scene_id: o for o in line_overruns(
        [(sid, scene_s[sid] - VOICE_LEAD_S, lines[sid][1]) for sid in lines])}
    warnings = [overrun_warning(e, lines[e.scene.id][1], overruns[e.scene.id].seconds_over,
                                rt.state.brief.fps, e.scene.id in tempos,
                                preset.name if preset else "export")
                for e in entries if e.scene.id in overruns]
    if warnings and not _accepts(accept, "voice_overrun"):
        enforce(warnings, accept)  # raises ExportCheckFailed: nothing is mixed or encoded
    cues: list[Cue] = []
    word_cues: list[WordCue] = []
    ass = None
    filters: list[str] = []
    texts = []
    spans: list[tuple[float, float]] = []
    style_base = kit.base_dir if kit is not None else None
    logo = kit.logo_path() if kit is not None and f.logo else None
    logo_box = logo_rect(logo, w, h, kit.logo_placement, safe) if kit and logo else None
    if kit is not None or f.captions or f.scene_text:
        style = kit.caption_style if kit is not None else CaptionStyle()
        area = safe or _full_frame()
        # presenter lines are captioned with the rest once finishing is set (an export with
        # no p.finish() is the picture and the presenters' own sound, nothing burned in)
        captioned = own if f != Finishing() else {}
        if f.captions and (lines or captioned):
            said = {sid: secs for sid, (_p, secs) in lines.items()}
            said.update({sid: max(0.0, secs - VOICE_LEAD_S) for sid, (_p, secs)
                         in captioned.items() if entry_of(entries, sid).scene.voice_line.strip()})
            cues = caption_cues(entries, said, scene_s, fps)
            spans += [(c.start_s, c.end_s) for c in cues]
            _warn_glyphs(style, style_base, entries, "voice line (caption)",
                         lambda sc: sc.voice_line if sc.id in said else "")
            heard = {sid: (p, VOICE_LEAD_S, tempos.get(sid, 1.0)) for sid, (p, _s)
                     in spoken.items()}
            heard.update({sid: (p, VOICE_LEAD_S, 1.0) for sid, (p, _s) in synced.items()})
            heard.update({sid: (p, 0.0, 1.0) for sid, (p, _s) in captioned.items()})
            word_cues = caption_words(entries, cues, heard)
            highlight = (kit.accent if kit is not None
                         and kit.accent.lower() != style.color.lower() else DEFAULT_HIGHLIGHT)
            ass = ass_sidecar(word_cues, f.caption_style, style, w, h, highlight=highlight,
                              base=style_base, safe_area=area)
            if f.caption_style == "lines":
                cap = burn_in(cues, style, w, h, area, base=style_base, warn=False,
                              avoid=logo_box)
                filters.append(cap.filters)
                texts += cap.items
            else:
                words = burn_in_words(word_cues, f.caption_style, style, w, h, area,
                                      highlight=highlight, base=style_base, avoid=logo_box,
                                      warn=False)
                filters.append(_ass_filter(rt, words))
                texts += words.items
        if f.scene_text:
            scene_cues = cues_from_lines([(e.start_s, e.start_s + scene_s[e.scene.id],
                                           e.scene.on_screen_text) for e in entries
                                          if e.scene.on_screen_text], fps)
            spans += [(c.start_s, c.end_s) for c in scene_cues]
            _warn_glyphs(style, style_base, entries, "on-screen text",
                         lambda sc: sc.on_screen_text)
            txt = burn_in(scene_cues, style, w, h, area, label="scene text", base=style_base,
                          position="top", warn=False, avoid=logo_box)
            filters.append(txt.filters)
            texts += txt.items
    overlay = None
    chain = ",".join(x for x in filters if x and x != "null")
    if kit is not None and logo is not None:
        src = "txt" if chain else "vin"
        mark = logo_overlay(logo, w, h, kit.logo_placement, safe, src=src,
                            out="vout", until_s=total_s - card_s if card_s else None)
        overlay = (f"[vin]{chain}[txt];" if chain else "") + mark.graph
        logo_box = mark.rect
        spans = []  # the watermark is on every frame: nothing left to copy
    elif chain:
        overlay = f"[vin]{chain}[vout]"
    # The overlay tracks (V2..) go under the captions and the watermark.
    text_overlay = overlay

    def compose(window: tuple[float, float] | None) -> tuple[str | None, ItemsGraph | None]:
        layers = overlay_layers(rt, (w, h), fps, total_s, out="trk" if text_overlay else "vout",
                                window=window)
        if layers is None:
            return text_overlay, None
        return layers.graph + (";" + text_overlay.replace("[vin]", "[trk]")
                               if text_overlay else ""), layers

    overlay, layers = compose(None)
    overlay_for: Callable[[float, float], str | None] | None = None
    if layers is not None:
        if not (text_overlay is not None and not spans):  # no watermark on every frame
            spans += layers.spans

        def piece_overlay(a: float, b: float) -> str | None:
            return compose((a, b))[0]

        overlay_for = piece_overlay
    if defer_sound:
        def later() -> tuple[Path | None, float | None]:
            return _soundtrack(rt, entries, total_s, lines, preset, work, own)

        return Prepared(clips=clips, overlay=overlay, cues=cues, word_cues=word_cues, ass=ass,
                        warnings=warnings, overlay_spans=spans if overlay and spans else None,
                        overlay_for=overlay_for if overlay and spans else None, sound=later)
    audio, lufs = _soundtrack(rt, entries, total_s, lines, preset, work, own)
    if preset is not None:
        facts = ExportFacts(duration_s=total_s, width=w, height=h, fps=fps,
                            has_audio=audio is not None, audio_lufs=lufs, texts=texts,
                            logo=logo_box)
        warnings = check_export(preset, facts) + warnings
    return Prepared(clips=clips, overlay=overlay, audio=audio, audio_lufs=lufs, cues=cues,
                    word_cues=word_cues, ass=ass, warnings=warnings,
                    overlay_spans=spans if overlay and spans else None,
                    overlay_for=overlay_for if overlay and spans else None)


def caption_words(entries: list[Entry], cues: list[Cue],
                  heard: dict[str, tuple[Path, float, float]]) -> list[WordCue]:
    """Each caption cue with its words on the film. `heard`: scene id -> (the WAV its line
    was spoken into, seconds into the scene that WAV is placed at, the tempo it is played
    at). The voice model's own times are used as given when they have the caption's words
    (ElevenLabs'); otherwise, and for every other voice, they are estimated from the WAV
    and the text, and the cue says so."""
    from nbvideo.media.audio_io import read_wav
    from nbvideo.media.word_times import estimate_words

    out = []
    for cue in cues:
        said = [e for e in entries if e.scene.id in heard
                and e.scene.voice_line.split() == cue.text.split()]
        if not said:
            continue
        e = min(said, key=lambda e: abs(e.start_s + VOICE_LEAD_S - cue.start_s))
        wav, lead, tempo = heard[e.scene.id]
        kept = line_words(wav, e.scene.voice_line.strip())
        tokens = cue.text.split()
        words, timings = kept.words, kept.timings
        if [w.word for w in words] != tokens:  # the model changed the text: from the audio
            samples, rate = read_wav(wav)
            words, timings = estimate_words(samples, rate, " ".join(tokens)), "estimated"
        out.append(cue_words(cue, words, e.start_s + lead, timings, tempo))
    return out


def _ass_filter(rt: Runtime, burn: Any) -> str:
    """The `ass` filter that draws `burn`: its script kept under assets/captions/ by its
    contents (so a smart re-export of the same captions finds its pieces), and libass
    pointed at a folder of exactly the fonts the script names."""
    folder = rt.store.path("assets/captions")
    folder.mkdir(parents=True, exist_ok=True)
    fonts = fonts_dir(burn.fonts, folder)
    key = hashlib.sha256((burn.script + "\0" + str(fonts)).encode()).hexdigest()[:16]
    script = folder / f"captions-{key}.ass"
    if not script.is_file():
        part = script.with_name(script.name + ".part")
        part.write_text(burn.script, encoding="utf-8")
        part.replace(script)
    return burn.filter_for(script, fonts)


def entry_of(entries: list[Entry], scene_id: str) -> Entry:
    return next(e for e in entries if e.scene.id == scene_id)


def _warn_glyphs(style: CaptionStyle, base: Path | None, entries: list[Entry], field: str,
                 text_of: Any) -> None:
    """A GlyphWarning per scene whose burned text has characters no bundled font draws."""
    from PIL import ImageFont

    from nbvideo.media.glyphs import FontStack, warn_missing
    from nbvideo.store.brands import font_file

    stack = FontStack(ImageFont.truetype(str(font_file(style.font, base)), 20))
    for e in entries:
        warn_missing(stack, text_of(e.scene), f"scene {e.number} ({e.scene.id}) {field}",
                     stacklevel=5)


def _full_frame() -> Any:
    from nbvideo.model.presets import SafeArea

    return SafeArea()
