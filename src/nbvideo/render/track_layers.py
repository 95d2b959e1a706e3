"""The project's tracks as what one export needs: the overlay items' graph (with text items
set as images under assets/overlays/) and the audio tracks' sounds, by stem.

Files are checked again here, where they are used (they may have been replaced or removed
since they were added): each one resolved inside the project, symlinks followed, as
`store.confine` does when an item is added.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbvideo.edit.timeline import Entry
from nbvideo.generate.lipsync import lip_synced
from nbvideo.model.tracks import AUDIO_TRACKS, AudioItem, ClipItem, TextItem, Track
from nbvideo.render.effects import effected_sound
from nbvideo.render.overlay_items import (
    ItemsGraph,
    items_graph,
    reveal_image,
    reveals,
    text_image,
)
from nbvideo.runtime.context import Runtime, canonical
from nbvideo.sound.track_items import Placed, audible

__all__ = ["Sounds", "overlay_layers", "sounds"]


def _file(rt: Runtime, rel: str, field: str) -> Path:
    from nbvideo.store.confine import confined_file

    return confined_file(rel, field=field, roots=[("the project folder", rt.store.root)])


def _text_png(rt: Runtime, item: TextItem, frame: tuple[int, int]) -> Path:
    """The text item set as a PNG, kept under assets/overlays/ by everything that decides
    its pixels (a smart re-export finds the same file, so the same cache keys)."""
    from nbvideo.store.brands import BUNDLED_FONTS, CaptionStyle, font_file

    kit = rt.brand_kit()
    style = kit.caption_style if kit is not None else CaptionStyle()
    base = kit.base_dir if kit is not None else None
    if item.font is None:
        font = font_file(style.font, base)
    elif item.font.lower() in BUNDLED_FONTS:
        font = font_file(item.font)
    else:
        font = _file(rt, item.font, f"text item {item.id}: font")
    color = item.color or style.color
    outline = style.outline_color if style.outline_px > 0 and not item.box else None
    what = {"text": item.text, "font": str(font), "color": color, "outline": outline,
            "size": item.size, "width": item.width, "box": item.box, "frame": frame}
    draw = text_image
    if reveals(item):  # the panels a typewriter or word reveal draws from
        assert item.animation is not None
        what["reveal"] = item.animation.kind
        draw = reveal_image
    key = hashlib.sha256(canonical(what).encode()).hexdigest()[:16]
    out = rt.store.path(f"assets/overlays/text-{key}.png")
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        part.write_bytes(draw(item, Path(font), color, outline, frame))
        part.replace(out)
    return out


def overlay_layers(rt: Runtime, frame: tuple[int, int], fps: int, total_s: float,
                   src: str = "vin", out: str = "vout",
                   window: tuple[float, float] | None = None) -> ItemsGraph | None:
    """The overlay tracks' graph from [src] to [out] (only the items on `window`, film
    seconds, when given), or None when nothing is drawn."""
    return items_graph(
        rt.state.timeline.tracks, frame, fps, total_s,
        resolve=lambda rel: _file(rt, rel, "overlay item path"),
        text_png=lambda item: _text_png(rt, item, frame), src=src, out=out, window=window)


@dataclass
class Sounds:
    """The audio tracks for one soundtrack: which are heard, their sounds by stem, gains."""

    heard: set[str]
    voice: list[Placed] = field(default_factory=list)
    music: list[Placed] = field(default_factory=list)
    effects: list[Placed] = field(default_factory=list)
    music_db: float = 0.0
    """Music track gain against the voice track's (added to the mix's music level)."""
    changed: bool = False
    """Anything not as a project without tracks has it (then it goes into the cache key)."""

    def key(self) -> dict[str, Any]:
        return {"heard": sorted(self.heard), "music_db": self.music_db,
                "voice": [p.key() for p in self.voice], "music": [p.key() for p in self.music],
                "effects": [p.key() for p in self.effects]}


def _effect(rt: Runtime, name: str) -> Path:
    """A sound effect by name: a built-in (rendered into the project on first use) or one
    imported into the project (sound/sfx.py); an unknown name is refused with the list."""
    from nbvideo.sound.sfx import effect_files

    return effect_files(rt, [name])[name]


def _has_audio(path: Path) -> bool:
    import av

    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except (av.FFmpegError, OSError, ValueError):
        return False


def sounds(rt: Runtime, entries: list[Entry], total_s: float) -> Sounds:
    """The audio tracks' items (and, when the "clips" track is heard, the scene clips' and
    overlay clips' own sound) as placed sounds, each with its item and track gain against
    the voice track's, cut to the film."""
    tracks: dict[str, Track] = rt.state.timeline.tracks
    audio = {n: t for n, t in tracks.items() if n in AUDIO_TRACKS}
    heard = audible((n, t.mute, t.solo) for n, t in audio.items())
    voice_db = audio["voice"].gain_db if "voice" in audio else 0.0
    out = Sounds(heard=heard)
    out.music_db = (audio["music"].gain_db - voice_db) if "music" in audio else 0.0
    defaults = {n: (n == "clips", False, 0.0) for n in AUDIO_TRACKS}
    out.changed = any((t.mute, t.solo, t.gain_db) != defaults[n] or t.items
                      for n, t in audio.items())
    fps = rt.state.brief.fps
    for name in AUDIO_TRACKS:
        t = audio.get(name)
        if t is None or name not in heard:
            continue
        rel_db = 0.0 if name == "voice" else t.gain_db - voice_db if name != "music" else 0.0
        placed: list[Placed] = []
        for it in sorted(t.items.values(), key=lambda i: (i.start_s, i.id)):
            assert isinstance(it, AudioItem)
            if it.mute or it.start_s >= total_s:
                continue
            path = (_file(rt, it.path, f"{name} item {it.id}: path") if it.path
                    else _effect(rt, it.effect or ""))
            placed.append(Placed(path, it.start_s, min(it.duration_s, total_s - it.start_s),
                                 it.source_in_s, it.gain_db + rel_db, it.fade_in_s,
                                 min(it.fade_out_s, max(0.0, total_s - it.start_s))))
        if name == "clips":
            for e in entries:
                clip = e.clip
                if clip is None or clip.path is None or e.scene.kind == "presenter" \
                        or lip_synced(clip):
                    continue  # presenters' and lip syncs' sound is the voice already
                f = rt.store.path(clip.path)
                if _has_audio(f) and e.effects.timed:  # played as its effects play it
                    placed.append(Placed(effected_sound(rt, f, e.trim_in_s, e.kept_s,
                                                        e.effects), e.start_s, e.frames / fps,
                                         0.0, rel_db))
                elif _has_audio(f):
                    placed.append(Placed(f, e.start_s, e.frames / fps, e.trim_in_s,
                                         rel_db))
            for t2 in tracks.values():
                for it in t2.items.values():
                    if isinstance(it, ClipItem) and it.sound and not t2.mute \
                            and it.start_s < total_s:
                        f = _file(rt, it.path, f"clip item {it.id}: path")
                        if _has_audio(f) and it.effects.timed:
                            window = it.effects.source_for(it.duration_s, fps)
                            placed.append(Placed(
                                effected_sound(rt, f, it.source_in_s, window, it.effects),
                                it.start_s, min(it.duration_s, total_s - it.start_s), 0.0,
                                rel_db))
                        elif _has_audio(f):
                            placed.append(Placed(f, it.start_s,
                                                 min(it.duration_s, total_s - it.start_s),
                                                 it.source_in_s, rel_db))
        {"voice": out.voice, "music": out.music}.get(name, out.effects).extend(placed)
    return out
