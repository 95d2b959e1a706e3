"""How exports are finished and frames are looked: the settings `p.finish()` and
`p.set_look()` change, checked in full before they are saved, and what they mean for the
next export (its music, each voice line's fit, the captions it burns in).

A refused setting changes nothing: brand kits, voices, music files and look images are
resolved (and confined to the project folder) before the state is touched.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from nbvideo.edit import timeline as timeline_ops
from nbvideo.errors import InvalidInput, PathEscape, from_validation
from nbvideo.model.look import Look
from nbvideo.model.state import Finishing
from nbvideo.render.finishing import caption_cues, line_fits, word_rows
from nbvideo.runtime.context import Runtime


def finish(rt: Runtime, settings: dict[str, Any]) -> Finishing:
    """Merge `settings` into the project's finishing, check it whole, save it."""
    from nbvideo.providers.voices import ELEVENLABS_VOICE_ID, get_voice
    from nbvideo.store.brands import project_brand
    from nbvideo.store.confine import confined_file

    with rt.guard:
        current = rt.state.finishing.model_dump()
        if isinstance(settings.get("voice_settings"), dict):  # a partial change keeps the rest
            settings = {**settings, "voice_settings": {**current["voice_settings"],
                                                       **settings["voice_settings"]}}
        try:
            new = Finishing.model_validate({**current, **settings})
        except ValidationError as exc:
            raise from_validation(exc, "finish") from None
        if new.brand:
            project_brand(new.brand, rt.store.root)
        vendor = _voice_vendor(new.voice_model)
        if new.voice and not (vendor == "elevenlabs" and ELEVENLABS_VOICE_ID.match(new.voice)):
            get_voice(new.voice)
        if new.music not in ("bed", "none"):
            try:
                music = rt.store.path(new.music)
            except PathEscape as exc:
                raise InvalidInput(f"finish: music: {exc}") from None
            if not music.is_file():
                raise InvalidInput(f"finish: music: {new.music} is not a file in the "
                                   "project; use 'bed', 'none' or a path inside it")
            confined_file(new.music, field="finish: music",
                          roots=[("the project folder", rt.store.root)], kind="audio")
        rt.state.finishing = new
        rt.save()
        return new


def _voice_vendor(model: str | None) -> str | None:
    """The vendor of a catalog voice model (None: not in the catalog, e.g. a model on an
    OpenAI-compatible server); a catalog model that is not a voice model is refused."""
    from nbvideo.providers.catalog import get_model, models

    if model is None:
        return None
    try:
        spec = get_model(model)
    except InvalidInput:
        return None
    if spec.kind != "audio":
        raise InvalidInput(f"finish: voice_model={model!r} is a {spec.provider} {spec.kind} "
                           "model; a voice model is one of: "
                           + ", ".join(m.id for m in models("audio")))
    return spec.provider


def set_look(rt: Runtime, off: bool, settings: dict[str, Any]) -> Look | None:
    """Merge `settings` into the look (unset fields start from the brief, the answers and
    the brand kit), check its logo and reference image, save it; `off` removes it.
    `template="pack/name"` starts from a template pack's look instead."""
    from nbvideo.model.look import look_from
    from nbvideo.plan.questions import effective_answers
    from nbvideo.store.brands import logo_for, reference_for
    from nbvideo.store.packs import load_look

    settings = dict(settings)
    template = settings.pop("template", None)

    with rt.guard:
        st = rt.state
        if off:
            st.look = None
            rt.save()
            return None
        if template is not None:  # a template pack's look, by pack/name
            base = load_look(str(template))
        else:
            base = st.look or look_from(st.brief.text,
                                        effective_answers(st.questions, st.answers),
                                        kit=rt.brand_kit(), seed=st.seed)
        try:
            new = Look.model_validate({**base.model_dump(), **settings})
        except ValidationError as exc:
            raise from_validation(exc, "set_look") from None
        logo_for(new, rt.store.root)  # inside the project, and images: else refused
        reference_for(new, True, rt.store.root)
        st.look = new
        rt.save()
        return new


def music(rt: Runtime) -> Any:
    """What the export puts under the picture (a MusicInfo), for the timeline as it is."""
    from nbvideo.sound.music_files import music_info

    with rt.guard:
        return music_info(rt, timeline_ops.total_frames(rt) / rt.state.brief.fps)


def fits(rt: Runtime) -> dict[str, Any]:
    """How each scene's voice line fits its scene, by scene id; speaks nothing."""
    with rt.guard:
        return line_fits(rt, timeline_ops.entries(rt))


def cues(rt: Runtime) -> list[Any]:
    """The captions an export at the project's fps burns in, with the export's timing."""
    with rt.guard:
        f = rt.state.finishing
        if not (f.captions and f.voice):
            return []
        entries = timeline_ops.entries(rt)
        found = line_fits(rt, entries)
        spoken = {sid: x.voice_s for sid, x in found.items() if x.words}
        return caption_cues(entries, spoken, {sid: x.scene_s for sid, x in found.items()},
                            rt.state.brief.fps)


def words(rt: Runtime) -> list[dict[str, Any]]:
    """Every spoken voice line's words with their times (see `finishing.word_rows`)."""
    with rt.guard:
        return word_rows(rt, timeline_ops.entries(rt))
