"""Ad brief templates: data files under ``templates/briefs/`` (the template pack at the
repository root, shipped in the wheel; see `nbvideo.model.pack`), validated by pydantic.

A template is an ad structure a director can pick by name (``Project.open(..., template=
"app-install")``): its beats in order with relative durations, the default length and aspect,
the questions worth asking for that kind of ad, and example copy the planner uses for the
on-screen text. They are data, not code, so a new kind of ad needs no Python: drop a JSON file
in the pack's ``briefs/`` folder or in a folder named by ``NBVIDEO_TEMPLATES`` (``os.pathsep``-separated;
those are searched first, so a team can override a built-in one). Installed template packs
(`nbvideo.model.pack`) add theirs as ``pack/name``, also found by the bare name when only one
pack has it.

A malformed file is refused with its path and the field at fault (pydantic's loc), e.g.
``.../app-install.json: beats.2.beat: Input should be 'hook', 'problem', ...``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, ValidationError, model_validator

from nbvideo.errors import InvalidInput, validation_message
from nbvideo.model.checked import Checked
from nbvideo.model.pack import BUILTIN, PackError, installed_packs, pack_dir, resolve_ref
from nbvideo.model.state import MAX_DURATION_S, MIN_DURATION_S, Aspect, Beat, CameraMove, ShotType

if TYPE_CHECKING:
    import pandas as pd

ENV_DIRS = "NBVIDEO_TEMPLATES"


class TemplateError(InvalidInput):
    """A template file is missing, unreadable or invalid; the message names file and field."""


class _Data(Checked):
    model_config = ConfigDict(extra="forbid")


class TemplateBeat(_Data):
    """One beat of the structure. `priority` decides which middle beats survive a short ad."""

    beat: Beat
    weight: float = Field(1.0, gt=0, le=5, description="Relative share of the ad's length.")
    priority: int | None = Field(None, ge=1, description="1 is kept first; hook and CTA always.")
    shots: list[ShotType] | None = None
    cameras: list[CameraMove] | None = None


class TemplateQuestion(_Data):
    """A question the template asks. Known ids (audience, benefit, tone, cta, platform, music,
    setting, style) steer the planner; other ids become placeholders in the example copy."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    prompt: str = Field(min_length=3)
    choices: list[str] = Field(default_factory=list)
    default: str | None = None
    help: str = ""
    allow_other: bool = True


class BriefTemplate(_Data):
    """One kind of ad: structure, defaults, questions and example copy."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    name: str = Field(min_length=2)
    description: str = ""
    beats: list[TemplateBeat] = Field(min_length=3)
    fill: list[Beat] = Field(min_length=1, description="Beats repeated to fill long ads.")
    duration_s: float = Field(30.0, ge=MIN_DURATION_S, le=MAX_DURATION_S)
    durations: list[float] = Field(default_factory=list, description="Lengths it suits.")
    aspect: Aspect = "16:9"
    questions: list[TemplateQuestion] = Field(default_factory=list, max_length=8)
    copy_lines: dict[Beat, list[str]] = Field(
        default_factory=dict, alias="copy",
        description="On-screen text per beat; {placeholders} as in model/data/structures.json.")
    example_brief: str = Field(min_length=3)

    @model_validator(mode="after")
    def _shape(self) -> BriefTemplate:
        if self.beats[0].beat != "hook" or self.beats[-1].beat != "call-to-action":
            raise ValueError("beats must open with 'hook' and end with 'call-to-action'")
        if any(b.priority is None for b in self.beats[1:-1]):
            raise ValueError("every middle beat needs a priority (1 is kept first)")
        ids = [q.id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise ValueError(f"question ids repeat: {ids}")
        for q in self.questions:
            if len(q.choices) == 1:
                raise ValueError(f"question {q.id!r} has one choice; give none or at least two")
        for d in self.durations:
            if not MIN_DURATION_S <= d <= MAX_DURATION_S:
                raise ValueError(f"durations: {d:g}s is outside {MIN_DURATION_S:g}-"
                                 f"{MAX_DURATION_S:g}s")
        return self

    def structure(self) -> dict[str, Any]:
        """The template as an ad structure in the planner's data shape."""
        seq = [b.model_dump(exclude_none=True) for b in self.beats]
        return {"name": self.id, "label": self.name, "pick": 0, "keywords": [],
                "sequence": seq, "fill": list(self.fill)}


def _dirs() -> list[tuple[str, Path]]:
    """(key prefix, folder), searched in order: '' for the folders whose names stay bare."""
    extra = [Path(p) for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p.strip()]
    return [*(("", d) for d in extra), ("", pack_dir() / "briefs"),
            *((f"{name}/", d / "briefs") for name, d in installed_packs().items())]


def _key() -> tuple[tuple[str, Path, int], ...]:
    """The folders with their modification times: a pack installed again (renamed into
    place) is a new folder, so the cache below never serves its old templates."""
    out = []
    for prefix, d in _dirs():
        try:
            stamp = d.stat().st_mtime_ns
        except OSError:
            stamp = -1
        out.append((prefix, d, stamp))
    return tuple(out)


def load_file(path: Path) -> BriefTemplate:
    """Read and validate one template file; errors name the file and the field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read template: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                            f"{exc.msg})") from None
    except RecursionError:  # '[[[[...' thousands deep
        raise TemplateError(f"{path}: nested too deeply to be a template file") from None
    try:
        tmpl = BriefTemplate.model_validate(raw)
    except ValidationError as exc:
        raise TemplateError(f"{path}: {validation_message(exc)}") from None
    if tmpl.id != path.stem:
        raise TemplateError(f"{path}: id: {tmpl.id!r} must match the file name {path.stem!r}")
    return tmpl


@lru_cache(maxsize=4)
def _load_all(dirs: tuple[tuple[str, Path, int], ...]) -> dict[str, tuple[BriefTemplate, Path]]:
    found: dict[str, tuple[BriefTemplate, Path]] = {}
    for prefix, d, _stamp in dirs:
        for path in sorted(d.glob("*.json")) if d.is_dir() else ():
            tmpl = load_file(path)
            found.setdefault(prefix + tmpl.id, (tmpl, path))  # earlier folders win
    return found


def all_templates() -> dict[str, BriefTemplate]:
    """Every template by the name it is picked with: bare, or ``pack/name`` from a pack."""
    return {k: t for k, (t, _p) in _load_all(_key()).items()}


def template_key(name: str) -> str | None:
    """The full name `name` picks (``pack/name`` for a pack's), or None when none does.
    An ambiguous bare name is a TemplateError listing the choices."""
    try:
        return resolve_ref(name, dict.fromkeys(all_templates(), Path()), what="template")
    except PackError as exc:
        raise TemplateError(str(exc)) from None


def get_template(name: str) -> BriefTemplate:
    """A template by id; an unknown id lists the ones there are."""
    found = all_templates()
    key = template_key(name)
    if key is None:
        raise TemplateError(f"template={name!r} is not a template; templates: "
                            f"{', '.join(sorted(found))}")
    return found[key]


def find_template(name: str | None) -> BriefTemplate | None:
    """The template of that id, or None (e.g. a planner structure name such as 'offer')."""
    if not name:
        return None
    key = template_key(name)
    return all_templates()[key] if key is not None else None


def templates_table() -> pd.DataFrame:
    """Every template as a row: id, name, beats, default length and aspect, questions, brief,
    its file and the template pack it comes from (``nv.template_packs()`` lists the packs)."""
    import pandas as pd  # here: planning reads templates without the DataFrame stack

    rows = []
    for tid, (t, path) in sorted(_load_all(_key()).items()):
        rows.append({
            "template": tid, "name": t.name, "description": t.description,
            "beats": " → ".join(b.beat for b in t.beats), "duration_s": t.duration_s,
            "durations": list(t.durations), "aspect": t.aspect,
            "questions": [q.id for q in t.questions], "example_brief": t.example_brief,
            "file": str(path), "pack": tid.partition("/")[0] if "/" in tid else BUILTIN,
        })
    return pd.DataFrame(rows, columns=["template", "name", "description", "beats", "duration_s",
                                       "durations", "aspect", "questions", "example_brief",
                                       "file", "pack"])
