"""Template packs for a user: list, install, remove, and scaffold one from a project.

A pack is a folder of brief templates, storyboard templates, brand kits, looks and template
notebooks with a manifest (docs/templates.md). Installing (`nbvideo.store.packs`) validates it
whole and copies it into the per-user packs folder; its content is then picked by
``pack/name`` wherever a built-in name is taken: ``Project.open(..., template="acme/promo")``,
``p.finish(brand="acme/bold")``, ``p.set_look(template="acme/night")``.

    >>> import nbvideo as nv
    >>> nv.template_packs()[["name", "origin"]].iloc[0].tolist()
    ['nbvideo', 'built-in']
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbvideo.errors import InvalidInput
from nbvideo.model.pack import MANIFEST, SLUG, PackError
from nbvideo.model.pack_format import PackManifest, StoryboardScene, StoryboardTemplate
from nbvideo.model.state import ProjectState
from nbvideo.model.templates import BriefTemplate, TemplateBeat, TemplateQuestion, find_template
from nbvideo.store import packs
from nbvideo.store.packs import Installed

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Installed", "install_pack", "new_pack", "remove_pack", "template_packs"]


def template_packs() -> pd.DataFrame:
    """Every template pack as a row, the built-in one first: name, version, author, licence,
    where it came from (``origin``: built-in, folder, git URL@commit, package==version) and
    how many briefs, storyboards, brands, looks and notebooks it holds."""
    return packs.pack_table()


def install_pack(source: str | os.PathLike[str], force: bool = False) -> Installed:
    """Install a pack from a folder, a git URL or an installed Python package's name.

    Refused (InvalidInput naming the file and field, nothing installed) when any file of it
    is bad, or when a pack of its name is installed and `force` is not set.
    """
    return packs.install(os.fspath(source), force=force)


def remove_pack(name: str) -> str:
    """Uninstall a pack by name; returns the version removed."""
    return packs.remove(name)


# ------------------------------------------------------------------------ scaffolding

def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    s = s if s[:1].isalpha() else f"ad-{s}".strip("-")
    return s[:40].strip("-") if len(s) >= 2 else "ad"


def _brief_template(state: ProjectState, tid: str) -> BriefTemplate:
    """The project's structure as a brief template: its own template's, else its scenes'."""
    own = find_template(state.brief.template)
    if own is not None:
        data = own.model_dump(by_alias=True, exclude_none=True)
        return BriefTemplate.model_validate({**data, "id": tid,
                                             "example_brief": state.brief.text})
    scenes = state.scenes
    mean = sum(s.duration_s for s in scenes) / len(scenes) if scenes else 1.0
    beats = [TemplateBeat(beat=s.beat, weight=min(5.0, max(0.2, s.duration_s / mean)),
                          shots=[s.shot], cameras=[s.camera]) for s in scenes]
    if not beats or beats[0].beat != "hook":
        beats.insert(0, TemplateBeat(beat="hook"))
    if beats[-1].beat != "call-to-action":
        beats.append(TemplateBeat(beat="call-to-action"))
    while len(beats) < 3:
        beats.insert(1, TemplateBeat(beat="product"))
    for i, b in enumerate(beats[1:-1], start=1):
        b.priority = i
    middle = [b.beat for b in beats[1:-1]]
    copy: dict[str, list[str]] = {}
    for s in scenes:
        if s.on_screen_text and not re.search(r"[{}]", s.on_screen_text):
            copy.setdefault(s.beat, []).append(s.on_screen_text)
    questions = []
    for q in state.questions[:8]:
        if len(q.prompt) >= 3 and len(q.choices) != 1:
            questions.append(TemplateQuestion(id=q.id, prompt=q.prompt, choices=q.choices,
                                              default=state.answers.get(q.id, q.default),
                                              help=q.help, allow_other=q.allow_other))
    return BriefTemplate.model_validate({
        "id": tid, "name": state.storyboard_title or state.name, "beats": beats,
        "fill": ["product"] if "product" in middle else middle[:1],
        "duration_s": state.brief.duration_s, "aspect": state.brief.aspect,
        "questions": questions, "copy": copy, "example_brief": state.brief.text,
        "description": f"Made from the project {state.name}."})


def _copy_beside(src: Path, folder: Path, stem: str) -> str:
    """Copy a file the pack needs into `folder` under a safe name; the name, relative."""
    name = f"{stem}{src.suffix.lower()}"
    shutil.copyfile(src, folder / name)
    return name


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def new_pack(name: str, from_project: str | os.PathLike[str],
             out: str | os.PathLike[str] | None = None, author: str | None = None) -> Path:
    """Scaffold a pack from a project: its brief as a brief template, its brand kit, its look,
    its storyboard as a storyboard template, and a manifest (version 0.1.0, the hub's or the
    OS user as author). Written whole or not at all, and validated as an install would.
    Returns the pack's folder (`out`, default ``./<name>``), which must not exist yet."""
    from nbvideo.runtime.roles import identity
    from nbvideo.store.brands import BUNDLED_FONTS, font_file, look_roots, project_brand
    from nbvideo.store.confine import confined_file
    from nbvideo.store.folder import ProjectStore

    if not isinstance(name, str) or not SLUG.match(name) or name == "nbvideo":
        raise PackError(f"pack name {name!r} not allowed: a lowercase slug of 2-40 letters, "
                        "digits and '-', starting with a letter (and not 'nbvideo')")
    root = Path(from_project).expanduser().resolve()
    state = ProjectStore(root).load()  # ProjectNotFound / ProjectCorrupt name the folder
    dest = Path(out if out is not None else name).expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(f"--out {str(dest)!r} already exists and is not empty; give a new "
                           "folder for the pack")
    item = _slug(root.name)
    manifest = PackManifest(name=name, version="0.1.0",
                            author=author or identity(confirm=False) or "unknown",
                            licence="UNLICENSED",
                            description=f"Templates made from the nbvideo project {root.name}.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-new-", dir=dest.parent))
    try:
        staging.chmod(0o755)  # an ordinary folder once renamed, not mkdtemp's private 0700
        _write_json(staging / MANIFEST, manifest.model_dump(exclude_defaults=False))
        (staging / "README.md").write_text(
            f"# {name}\n\nA template pack for nbvideo, made from the project "
            f"`{root.name}`. Set the licence in `{MANIFEST}` before you share it.\n",
            encoding="utf-8")
        _write_json(staging / "briefs" / f"{item}.json",
                    _brief_template(state, item).model_dump(by_alias=True, exclude_none=True))
        if state.scenes:
            board = StoryboardTemplate(
                id=item, name=state.storyboard_title or root.name, aspect=state.brief.aspect,
                scenes=[StoryboardScene(beat=s.beat, title=s.title, description=s.description,
                                        shot=s.shot, camera=s.camera, duration_s=s.duration_s,
                                        visual_prompt=s.visual_prompt,
                                        on_screen_text=s.on_screen_text,
                                        voice_line=s.voice_line)
                        for s in state.scenes[:60]])
            _write_json(staging / "storyboards" / f"{item}.json", board.model_dump())
        if state.finishing.brand:
            kit = project_brand(state.finishing.brand, root)
            brands = staging / "brands"
            brands.mkdir()
            data = kit.model_dump(exclude_none=True)
            if (logo := kit.logo_path()) is not None:
                data["logo"] = _copy_beside(logo, brands, f"{item}-logo")
            for where, key in (("fonts", "headline"), ("fonts", "body"),
                               ("caption_style", "font")):
                font = data[where][key]
                if font.lower() not in BUNDLED_FONTS:
                    data[where][key] = _copy_beside(font_file(font, kit.base_dir), brands,
                                                    f"{item}-{key}")
            _write_json(brands / f"{item}.json", data)
        if state.look is not None:
            looks = staging / "looks"
            looks.mkdir()
            data = state.look.model_dump()
            for field in ("reference_image", "logo"):
                if data.get(field):
                    src = confined_file(data[field], field=f"look.{field}",
                                        roots=look_roots(root), kind="image")
                    data[field] = _copy_beside(src, looks, f"{item}-{field.replace('_', '-')}")
            _write_json(looks / f"{item}.json", data)
        packs.validate_folder(staging)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest

