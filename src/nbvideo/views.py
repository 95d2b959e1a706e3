"""Static HTML views of project state, for notebook output that needs no live kernel.

Saved notebooks, nbval and GitHub all show these. Images travel as small JPEG thumbnails;
videos are embedded only when asked for, at a size the notebook can carry.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package root imports this module at once: it must stay cheap
    from nbvideo.model.state import ExportRecord, Question, Scene

# The live widgets sit a layer above the project that shows them, so the project cannot import
# them. The package root, which sits above both, hands this module a loader for them
# (`serve_live`); until it is called there are only the static views below.
_live_loader: Callable[[], ModuleType] | None = None


def serve_live(loader: Callable[[], ModuleType]) -> None:
    """Register how to load the live widget layer (`nbvideo.widgets`). The package root does
    this once at import, so the project and its handles can show widgets without importing
    upward."""
    global _live_loader
    _live_loader = loader


def live_widgets() -> ModuleType:
    """The live widget layer; ImportError where it cannot load (no anywidget installed)."""
    if _live_loader is None:
        raise ImportError("no live widget layer registered (import nbvideo, not a submodule)")
    return _live_loader()


def live_bundle(project: Any, kind: str, **options: Any) -> Any:
    """The live widget's mime bundle for `kind` in a kernel that can talk to it; None anywhere
    else, so the static _repr_html_ shows (saved notebooks, nbconvert, GitHub, terminals)."""
    if project is None:
        return None
    try:
        widgets = live_widgets()
    except ImportError:  # no anywidget: the static repr still works
        return None
    return widgets.live_bundle(project, kind, **options)


_CARD = (
    "display:inline-block;vertical-align:top;margin:4px;padding:6px;border:1px solid var(--jp-border-color2,#ddd);"
    "border-radius:6px;font:12px/1.35 system-ui,sans-serif;background:var(--jp-layout-color1,#fafafa);color:var(--jp-ui-font-color1,#222);"
)


def _img(path: Path | None, width: int) -> str:
    if path is None or not path.exists():
        return (f"<div style='width:{width}px;height:{width * 9 // 16}px;background:var(--jp-layout-color2,#eee);"
                f"display:flex;align-items:center;justify-content:center;color:var(--jp-ui-font-color3,#999)'>no frame</div>")
    data = base64.b64encode(path.read_bytes()).decode()
    mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    return f"<img src='data:{mime};base64,{data}' style='width:{width}px;display:block'/>"


def thumb_path(root: Path, scene: Scene) -> Path | None:
    frame = scene.frame
    if frame is None:
        return None
    return root / "assets" / "thumbs" / f"{frame.id}.jpg"




def review_line(scene: Scene) -> str:
    """The scene's review status as a coloured label, with its latest comment; empty while
    the scene is a draft nobody has commented on."""
    said = [c for c in scene.comments if c.text]
    if scene.review_status == "draft" and not said:
        return ""
    from nbvideo.model.approvals import STATUS_COLOURS

    e = html.escape
    label = (f"<span style='background:{STATUS_COLOURS[scene.review_status]};color:#fff;"
             f"border-radius:3px;padding:0 4px;font-weight:600'>"
             f"{e(scene.review_status.replace('_', ' '))}</span>")
    last = f" {e(said[-1].author)}: {e(said[-1].text[:120])}" if said else ""
    return f"<div style='margin-top:3px'>{label}{last}</div>"


def scene_card(root: Path, number: int, scene: Scene, width: int = 220) -> str:
    e = html.escape
    status = []
    status.append("frame ✓" if scene.frame and scene.frame.ok else "no frame")
    status.append("clip ✓" if scene.clip and scene.clip.ok else "no clip")
    return (
        f"<div style='{_CARD}width:{width}px'>{_img(thumb_path(root, scene), width)}"
        f"<div style='margin-top:4px'><b>{number}. {e(scene.title or scene.beat)}</b> "
        f"<span style='color:var(--jp-ui-font-color2,#666)'>· {e(scene.beat)} · {round(scene.duration_s, 2):g}s</span></div>"
        f"<div style='color:var(--jp-ui-font-color1,#444)'>{e(scene.shot)}, {e(scene.camera)}</div>"
        f"<div style='margin-top:3px'>{e(scene.description)}</div>{review_line(scene)}"
        f"<div style='margin-top:3px;color:var(--jp-ui-font-color2,#888)'>{e(' · '.join(status))} · "
        f"{len(scene.frame_takes)} frame / {len(scene.clip_takes)} clip take(s) · "
        f"<code>{scene.id}</code></div></div>"
    )


def storyboard_html(root: Path, title: str, scenes: list[Scene], target_s: float) -> str:
    total = sum(s.duration_s for s in scenes)
    cards = "".join(scene_card(root, i, s) for i, s in enumerate(scenes, 1))
    head = (f"<div style='font:13px system-ui,sans-serif;margin:4px'><b>{html.escape(title)}</b> "
            f"— {len(scenes)} scenes, {round(total, 2):g}s of {round(target_s, 2):g}s</div>")
    return f"<div>{head}<div>{cards}</div></div>"


def questions_html(questions: list[Question], answers: dict[str, str]) -> str:
    e = html.escape
    rows = []
    for q in questions:
        given = answers.get(q.id)
        choices = " / ".join(q.choices) if q.choices else "(free text)"
        answer = (f"<b>{e(given)}</b>" if given
                  else f"<span style='color:var(--jp-ui-font-color3,#999)'>default: {e(q.default or '—')}</span>")
        rows.append(f"<tr><td><code>{e(q.id)}</code></td><td>{e(q.prompt)}<br/>"
                    f"<span style='color:var(--jp-ui-font-color2,#888)'>{e(choices)}</span></td><td>{answer}</td></tr>")
    return ("<table style='font:12px system-ui,sans-serif'><tr><th>id</th><th>question</th>"
            f"<th>answer</th></tr>{''.join(rows)}</table>")


def video_html(path: Path, width: int = 360, embed: bool = True) -> str:
    """A <video> element; embedded as base64 so it plays in any frontend."""
    if embed:
        data = base64.b64encode(path.read_bytes()).decode()
        src = f"data:video/mp4;base64,{data}"
    else:
        src = html.escape(path.as_posix())
    return (f"<video src='{src}' controls loop muted playsinline "
            f"style='width:{width}px;max-width:100%'></video>")


def export_html(root: Path, rec: ExportRecord, embed: bool = True) -> str:
    e = html.escape
    width = 360 if rec.width >= rec.height else 220
    return (
        f"<div style='{_CARD}'>{video_html(root / rec.path, width, embed)}"
        f"<div><b>{e(rec.aspect)}</b> {rec.width}×{rec.height} · {rec.duration_s:.2f}s · "
        f"{rec.frames} frames @ {rec.fps:g} fps · {rec.size_bytes / 1e6:.1f} MB"
        f"{' · stream copy' if rec.stream_copy else ''}</div>"
        f"<div><code>{e(rec.path)}</code></div></div>"
    )
