"""An Instagram Graph API double: a real HTTP server on 127.0.0.1 serving both the graph host
and the upload host (rupload) in the shapes src/nbvideo/deliver/platforms/meta.py cites.

Routes (the graph ones under /{version}/):
- POST /{v}/{ig-user-id}/media (form: media_type=REELS, upload_type=resumable, caption)
  -> {"id": container id, "uri": "{base}/ig-api-upload/{v}/{container id}"}
- POST /ig-api-upload/{v}/{container} (headers Authorization: OAuth {token}, offset,
  file_size; the bytes) -> {"success": true, "message": "Upload successful."}; a chunk at
  another offset than the bytes held is refused in the upload host's debug_info shape
- GET /{v}/{container}?fields=status_code,status -> IN_PROGRESS while uploading and for
  `processing_polls` looks after the last byte, then FINISHED (or ERROR with a status text),
  PUBLISHED once published
- POST /{v}/{ig-user-id}/media_publish (form: creation_id) -> {"id": media id}
- GET /{v}/{media}?fields=... -> {"id", "permalink", "caption", "timestamp"}
- GET /{v}/{ig-user-id}/media -> {"data": [newest media first]}
- GET /{v}/{media}/insights?metric=a,b -> {"data": [{"name", "period": "lifetime",
  "values": [{"value"}], "title", "description", "id"}]} with the numbers a test puts in
  `insights[media id]`; a metric with no number there is left out of `data` (as Meta does for
  data it does not have), a metric Meta no longer has (plays, impressions, video_views) is
  refused with code 100 (developers.facebook.com/docs/instagram-platform/reference/
  instagram-media/insights). Counter: insight_calls.
Every request needs `Authorization: OAuth {token}`; a token in the query string is refused
(and counted), as is a wrong one (code 190, its message echoing the token sent, to
prove the client redacts it). Faults: `expired_token` (every call: 190),
`rate_limited` (that many graph calls: code 4), `reject_chunks` (that many chunks refused,
retriable), `drop_after_chunks` (the connection closes with no answer from that chunk on,
the chunk not kept), `fail_processing` (the container ends ERROR), `lose_publish_answer`
(media_publish publishes, then the connection closes with no answer), `foreign_uri` (the
upload uri names another host). Counters: publishes (media_publish calls that published),
chunks, urls (every path and query asked), tokens_in_query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.doubles.graph_gate import GraphHandler, graph_error
from tests.doubles.serving import serve, stop_server

VERSION = "v24.0"
REEL_METRICS = ("comments", "likes", "reach", "saved", "shares", "total_interactions", "views",
                "ig_reels_avg_watch_time", "ig_reels_video_view_total_time")
REMOVED_METRICS = ("plays", "impressions", "video_views", "clips_replays_count")


@dataclass
class Container:
    caption: str
    thumb_offset: str | None = None  # the form's field as sent (milliseconds), if any
    data: bytearray = field(default_factory=bytearray)
    size: int | None = None
    looks: int = 0
    status: str = "IN_PROGRESS"
    media: str | None = None


@dataclass
class MetaDouble:
    token: str
    user_id: str = "17841400000000001"
    base_url: str = ""
    processing_polls: int = 1
    expired_token: bool = False
    rate_limited: int = 0
    reject_chunks: int = 0
    drop_after_chunks: int | None = None
    fail_processing: bool = False
    lose_publish_answer: bool = False
    foreign_uri: bool = False
    publishes: int = 0
    chunks: int = 0
    tokens_in_query: int = 0
    urls: list[str] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    containers: dict[str, Container] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    insights: dict[str, dict[str, float]] = field(default_factory=dict)
    insight_calls: int = 0
    videos: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def stop(self) -> None:
        stop_server(self._server)


def _handler(double: MetaDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(GraphHandler):
        api = double

        def _route(self, method: str) -> None:
            req = self._admitted()
            if req is None:
                return
            raw, query, segs = req.raw, req.query, req.segs
            if segs[:1] == ["ig-api-upload"] and method == "POST" and len(segs) == 3:
                return self._upload(segs[2], raw)
            if self._graph_refused(req, VERSION):
                return
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            node, edge = segs[1], segs[2] if len(segs) > 2 else None
            if method == "POST" and node == double.user_id and edge == "media":
                return self._create(form)
            if method == "POST" and node == double.user_id and edge == "media_publish":
                return self._publish(form)
            if method == "GET" and node == double.user_id and edge == "media":
                items = sorted(double.media.values(), key=lambda m: m["timestamp"],
                               reverse=True)
                return self._send(200, {"data": items[:int(query.get("limit", 25))]})
            if method == "GET" and edge == "insights" and node in double.media:
                return self._insights(node, query.get("metric", ""))
            if method == "GET" and edge is None and node in double.containers:
                return self._status(node)
            if method == "GET" and edge is None and node in double.media:
                return self._send(200, double.media[node])
            return self._send(400, graph_error(100, f"Unsupported {method} request on {node}", 33))

        def _create(self, form: dict[str, str]) -> None:
            if form.get("media_type") != "REELS" or form.get("upload_type") != "resumable":
                return self._send(400, graph_error(100, "media_type must be REELS with "
                                            "upload_type=resumable here"))
            cid = str(17900000000000000 + len(double.containers))
            double.containers[cid] = Container(caption=form.get("caption", ""),
                                               thumb_offset=form.get("thumb_offset"))
            host = "https://evil.example" if double.foreign_uri else double.base_url
            self._send(200, {"id": cid, "uri": f"{host}/ig-api-upload/{VERSION}/{cid}"})

        def _upload(self, cid: str, raw: bytes) -> None:
            if self._rupload_chunk(double.containers.get(cid), f"container {cid}", raw):
                self._send(200, {"success": True, "message": "Upload successful."})

        def _status(self, cid: str) -> None:
            c = double.containers[cid]
            if c.status == "IN_PROGRESS" and c.size is not None and len(c.data) == c.size:
                c.looks += 1
                if c.looks > double.processing_polls:
                    c.status = "ERROR" if double.fail_processing else "FINISHED"
            status = ("Error: 2207026: The video format is not supported."
                      if c.status == "ERROR" else c.status.title())
            self._send(200, {"status_code": c.status, "status": status, "id": cid})

        def _insights(self, mid: str, metric: str) -> None:
            names = [m for m in metric.split(",") if m]
            gone = [m for m in names if m in REMOVED_METRICS]
            if not names or gone:
                return self._send(400, graph_error(100, f"(#100) metric[0] must be one of the "
                                            f"following values: {', '.join(REEL_METRICS)}"
                                            + (f"; {gone[0]} is no longer supported"
                                               if gone else "")))
            with double._lock:
                double.insight_calls += 1
            have = double.insights.get(mid, {})
            data = [{"name": m, "period": "lifetime", "values": [{"value": have[m]}],
                     "title": m.replace("_", " ").title(), "description": m,
                     "id": f"{mid}/insights/{m}/lifetime"} for m in names if m in have]
            self._send(200, {"data": data})

        def _publish(self, form: dict[str, str]) -> None:
            c = double.containers.get(form.get("creation_id", ""))
            if c is None:
                return self._send(400, graph_error(100, "Invalid parameter", 2207003))
            if c.status != "FINISHED":
                return self._send(400, graph_error(9007, "Media ID is not available", 2207027))
            mid = str(18000000000000000 + len(double.media))
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
            double.media[mid] = {"id": mid, "caption": c.caption, "timestamp": now,
                                 "permalink": f"https://www.instagram.com/reel/R{mid[-6:]}/"}
            double.videos[mid] = bytes(c.data)
            c.status, c.media = "PUBLISHED", mid
            double.publishes += 1
            if double.lose_publish_answer:
                double.lose_publish_answer = False
                return self._drop()
            self._send(200, {"id": mid})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


def start_meta_double(token: str) -> MetaDouble:
    """Serve a double on 127.0.0.1 (a free port) in a daemon thread; call `.stop()` after."""
    double = MetaDouble(token)
    double._server, double.base_url = serve(_handler(double), "meta-double")
    return double
