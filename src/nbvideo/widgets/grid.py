"""ClipGrid: a tile per scene while clips are made — status, time, cost, a preview that plays.

It listens to the Job's events (emitted on the background loop) and folds them into tile
updates at most every THROTTLE_S seconds, on a timer thread. A tile's preview (<=480p MP4)
is sent only when the browser asks for it, i.e. when the tile scrolls into view.
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets
import traitlets as t

from nbvideo.errors import InvalidInput, NbvideoError
from nbvideo.project import Job, JobEvent
from nbvideo.widgets import media
from nbvideo.widgets.base import Later, Part, ProjectView, action, esm

TERMINAL = ("succeeded", "cached", "failed", "canceled")
RUNNING = ("starting", "processing")


class ClipTile(Part):
    """One scene's clip."""

    tile = t.Dict(help="number, title, status (idle, queued, starting, processing, succeeded, "
                  "cached, failed, canceled), message, started_ms and ended_ms (epoch ms: the "
                  "browser ticks elapsed time itself), cost_usd, take_id, in_job, badges [{kind "
                  "(presenter, lip-synced), text}].").tag(sync=True)
    poster = t.Bytes(b"", help="JPEG of the scene's frame.").tag(sync=True)
    preview = t.Bytes(b"", help="<=480p MP4 of the chosen clip; empty until asked for.").tag(
        sync=True)

    def __init__(self, **kwargs: Any) -> None:
        self.poster_of: str | None = kwargs.pop("poster_of", None)
        self.preview_of: str | None = None
        super().__init__(**kwargs)


def _ms(monotonic: float | None) -> float | None:
    """A monotonic time as epoch milliseconds, which the browser can subtract from now."""
    if monotonic is None:
        return None
    return round((time.time() - time.monotonic() + monotonic) * 1000)


def unit_states(job: Job[Any]) -> dict[str, dict[str, Any]]:
    """Each scene's last status in `job`, with when it started and ended."""
    out: dict[str, dict[str, Any]] = {}
    for ev in list(job.events):
        if ev.scene is None:
            continue
        u = out.setdefault(ev.scene, {"status": "queued", "message": "", "started": None,
                                      "ended": None})
        _fold(u, ev)
    if job.done() and job.state == "canceled":  # units still waiting never said so
        for u in out.values():
            if u["status"] not in TERMINAL:
                u["status"], u["ended"] = "canceled", job._ended
    return out


def _fold(u: dict[str, Any], ev: JobEvent) -> None:
    u["status"] = ev.status
    if ev.message:
        u["message"] = ev.message
    if ev.status in RUNNING and u["started"] is None:
        u["started"] = ev.time
    if ev.status in TERMINAL:
        u["ended"] = ev.time
        u["started"] = u["started"] if u["started"] is not None else ev.time


class ClipGrid(ProjectView):
    """Clips being made, live. Jobs started from the grid (retry, new take) join it."""

    _esm = esm("grid.js")
    tiles = t.List(t.Instance(ClipTile), help="A tile per scene, in storyboard order.").tag(
        sync=True, **ipywidgets.widget_serialization)
    progress = t.Dict(help="total, done, succeeded, failed, canceled, running, queued, state "
                      "(idle/running/succeeded/failed/canceled), started_ms, ended_ms, "
                      "spent_usd, budget_usd, estimate_usd.").tag(sync=True)

    def __init__(self, project: Any, job: Job[Any] | None = None, **kwargs: Any) -> None:
        self._tiles: dict[str, ClipTile] = {}
        self._jobs: list[tuple[Job[Any], float]] = []  # (job, its estimate when started)
        super().__init__(project, **kwargs)
        if job is not None:
            self.watch(job)

    def watch(self, job: Job[Any]) -> None:
        """Show `job`'s progress on the tiles (events arrive from the background loop)."""
        units = {ev.scene for ev in job.events if ev.scene}
        try:
            est = self.project.estimate()
            cost = float(est.iloc[1:].loc[est["id"].iloc[1:].isin(units), "cost_usd"].sum())
        except NbvideoError:  # e.g. the model has no price at this resolution
            cost = 0.0
        with self._lock:
            self._jobs.append((job, cost))
        job.on_event(lambda _ev: self._throttle.poke())
        job.future.add_done_callback(lambda _f: self._throttle.poke())
        self.refresh()

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        st = self.project.state
        root = self.project.path
        units: dict[str, dict[str, Any]] = {}
        for job, _cost in self._jobs:
            units.update(unit_states(job))  # a later job's word on a scene wins
        order = []
        shown: dict[str, dict[str, Any]] = {}
        for number, scene in enumerate(st.scenes, 1):
            tile = self._tile_fields(number, scene, units.get(scene.id))
            shown[scene.id] = tile
            part = self._tiles.get(scene.id)
            if part is None:
                part = ClipTile(key=scene.id, tile=tile, poster_of=scene.frame_take_id,
                                poster=media.thumbnail(root, scene.frame))
                self._tiles[scene.id] = part
            else:
                changes: dict[str, Any] = {"tile": tile}
                if part.poster_of != scene.frame_take_id:
                    changes["poster"] = media.thumbnail(root, scene.frame)
                    part.poster_of = scene.frame_take_id
                if part.preview_of is not None and part.preview_of != scene.clip_take_id:
                    changes["preview"] = b""  # stale: the browser asks again if it shows it
                    part.preview_of = None
                part.update(**changes)
            order.append(part)
        for sid in set(self._tiles) - {s.id for s in st.scenes}:
            self._tiles.pop(sid).close()
        # The bar counts the scenes the jobs worked on; with no job yet, or only jobs that
        # had nothing to make (every clip reused), it counts the project's clips instead of
        # saying "0 of 0 done".
        counted = units or {k: v for k, v in shown.items() if v["status"] != "idle"}
        progress = self._progress(counted, st.budget_usd)
        if not units:
            progress["total"] = len(shown)
        return {"tiles": order, "progress": progress}

    @staticmethod
    def _tile_fields(number: int, scene: Any, unit: dict[str, Any] | None) -> dict[str, Any]:
        last = scene.clip_takes[-1] if scene.clip_takes else None
        clip = scene.clip
        in_job = unit is not None
        if unit is None:
            status = ("succeeded" if clip is not None and clip.ok
                      else last.status if last is not None and last.status in TERMINAL
                      else "idle")
            unit = {"status": status, "message": (last.error or "") if status == "failed" else "",
                    "started": None, "ended": None}
        shown = clip if unit["status"] in ("succeeded", "cached") else last
        return {
            "number": number, "title": scene.title or scene.beat, "status": unit["status"],
            "message": unit["message"][:300], "started_ms": _ms(unit["started"]),
            "ended_ms": _ms(unit["ended"]),
            "cost_usd": round(shown.cost_usd, 6) if shown is not None else 0.0,
            "take_id": clip.id if clip is not None else None, "in_job": in_job,
            "badges": media.badges(scene),
        }

    def _progress(self, units: dict[str, dict[str, Any]], budget: float | None) -> dict[str, Any]:
        counts = {k: 0 for k in ("succeeded", "failed", "canceled", "running", "queued")}
        for u in units.values():
            s = u["status"]
            key = ("succeeded" if s in ("succeeded", "cached") else s if s in counts
                   else "running" if s in RUNNING else "queued")
            counts[key] += 1
        jobs = [j for j, _ in self._jobs]
        state = ("idle" if not jobs else "running" if any(not j.done() for j in jobs)
                 else jobs[-1].state)
        ended = max((j._ended or 0.0 for j in jobs), default=0.0) if state != "running" else None
        return {
            "total": len(units), "done": counts["succeeded"] + counts["failed"]
            + counts["canceled"], **counts, "state": state,
            "started_ms": _ms(min(j._started for j in jobs)) if jobs else None,
            "ended_ms": _ms(ended) if ended else None,
            "spent_usd": round(self.project.spent_usd, 6), "budget_usd": budget,
            "estimate_usd": round(sum(c for _, c in self._jobs), 6),
        }

    def _parts(self) -> list[ClipTile]:  # type: ignore[override]
        return list(self._tiles.values())

    def _running(self, scene: str | None) -> list[Job[Any]]:
        return [j for j, _ in self._jobs if not j.done()
                and (scene is None or any(ev.scene == scene for ev in j.events))]

    def static_html(self) -> str:
        rows = "".join(
            f"<tr><td>{p.tile['number']}</td><td>{html.escape(p.tile['title'])}</td>"
            f"<td>{p.tile['status']}</td><td>${p.tile['cost_usd']:.3f}</td></tr>"
            for p in self.tiles)
        pr = self.progress
        return (f"<div style='font:13px system-ui,sans-serif'><b>Clips</b> — {pr.get('done', 0)} "
                f"of {pr.get('total', 0)} done, {pr.get('state', '')}, spent "
                f"${pr.get('spent_usd', 0):.2f}</div><table style='font:12px system-ui'>"
                f"<tr><th>#</th><th>scene</th><th>status</th><th>cost</th></tr>{rows}</table>")

    # ------------------------------------------------------------------ actions
    @action("retry")
    def _retry(self, scene: str) -> dict[str, str]:
        """Make the scene's clip again if it is missing, failed or out of date (a current one
        is reused at no cost)."""
        job = self.project.generate_clips([scene])
        self.watch(job)
        return {"job": job.name}

    @action("regenerate")
    def _regenerate(self, scene: str) -> dict[str, str]:
        """A fresh clip take with a new seed (this one is paid for again)."""
        job = self.project.regenerate_clip(scene, force=True)
        self.watch(job)
        return {"job": job.name}

    @action("cancel")
    def _cancel(self, scene: str | None = None) -> dict[str, int]:
        """Stop one scene's clip, or every running job of this grid with no scene."""
        jobs = self._running(scene)
        if scene is not None and not jobs:
            raise InvalidInput(f"no clip is being made for scene {scene!r}")
        for job in jobs:
            job.cancel(scene)
        return {"canceled": len(jobs)}

    @action("preview")
    def _preview(self, scene: str) -> Later:
        """Send the tile's low-res preview (made once per clip, on a worker thread)."""
        part = self._tiles.get(scene)
        if part is None:
            raise InvalidInput(f"no scene {scene!r} in this grid")

        def work() -> None:
            sc = self.project.scene(scene)
            clip = sc.clip
            if clip is None or not clip.ok:
                raise InvalidInput(f"scene {sc.number} has no clip to preview yet")
            data = media.preview(self.project.path, clip)
            with self._lock:
                part.preview_of = clip.id
                part.preview = data

        return Later(work)
