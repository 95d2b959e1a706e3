"""A Facebook Graph API (Video API) double: a real HTTP server on 127.0.0.1 serving the graph
host and the reels upload host (rupload) in the shapes
src/nbvideo/deliver/platforms/facebook.py cites.

Routes (the graph ones under /{version}/):
- POST /{v}/{page}/video_reels (form) upload_phase=start -> {"video_id", "upload_url":
  "{base}/video-upload/{v}/{video_id}"}; upload_phase=finish, video_id, video_state=PUBLISHED,
  description -> {"success": true} (publishes)
- POST /video-upload/{v}/{video_id} (headers Authorization: OAuth {token}, offset, file_size;
  the bytes) -> {"success": true}; a request at another offset than the bytes held is refused
  in the upload host's debug_info shape
- POST /{v}/{page}/videos (multipart) upload_phase=start, file_size -> {"video_id",
  "upload_session_id", "start_offset", "end_offset"} (chunks of `chunk_size`);
  upload_phase=transfer, upload_session_id, start_offset, video_file_chunk -> the next
  offsets, or error_subcode 1363037 with the offsets wanted in error_data;
  upload_phase=finish, upload_session_id, title, description -> {"success": true}
- GET /{v}/{video_id}?fields=... -> {"id", "status": {"video_status", "uploading_phase":
  {"status", "bytes_transferred"}, "processing_phase", "publishing_phase"}, "permalink_url"}:
  publishing stays in_progress for `processing_polls` looks after the finish, then complete
Every request needs `Authorization: OAuth {token}`; a token in the query string is refused
(and counted), as is a wrong one (code 190, its message echoing the token sent, to prove the
client redacts it). Faults: `expired_token` (every call: 190), `rate_limited` (that many
graph calls: code 4), `reject_chunks` (that many chunks refused, retriable), `drop_after_chunks`
(the connection closes with no answer from that chunk on, the chunk not kept),
`lose_chunk_answer` (chunk n, counting from 1, is kept, then the connection closes with no
answer), `fail_processing` (processing ends in error once the bytes are in), `lose_finish_answer` (the
finish publishes, then the connection closes with no answer), `foreign_uri` (the reel's upload
URL names another host), `omit_upload_url` (the start answers the video id alone). Counters: publishes (finishes that published), chunks, urls (every
path and query asked), tokens_in_query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.doubles.graph_gate import GraphHandler, graph_error
from tests.doubles.serving import serve, stop_server

VERSION = "v24.0"
REASON = "Video Processing Failed: the audio codec of the file is not supported"


@dataclass
class Video:
    kind: str  # reel or video
    size: int | None = None
    data: bytearray = field(default_factory=bytearray)
    session: str = ""
    looks: int = 0
    published: bool = False
    failed: bool = False
    title: str = ""
    description: str = ""


@dataclass
class FacebookDouble:
    token: str
    page_id: str = "102030405060708"
    base_url: str = ""
    chunk_size: int = 256 * 1024  # what a Page video's transfer asks for at a time
    processing_polls: int = 1
    expired_token: bool = False
    rate_limited: int = 0
    reject_chunks: int = 0
    drop_after_chunks: int | None = None
    lose_chunk_answer: int | None = None
    fail_processing: bool = False
    lose_finish_answer: bool = False
    foreign_uri: bool = False
    omit_upload_url: bool = False
    publishes: int = 0
    chunks: int = 0
    tokens_in_query: int = 0
    urls: list[str] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    videos: dict[str, Video] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def published(self) -> dict[str, Video]:
        return {k: v for k, v in self.videos.items() if v.published}

    def stop(self) -> None:
        stop_server(self._server)


def _form(headers: Any, raw: bytes) -> dict[str, Any]:
    """A urlencoded or multipart body as {name: text, or bytes for a file part}."""
    ctype = headers.get("Content-Type", "")
    if ctype.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
        out: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            body = part.get_payload(decode=True) or b""
            out[str(name)] = body if part.get_filename() else body.decode()
        return out
    return {k: v[0] for k, v in parse_qs(raw.decode()).items()}


def _handler(double: FacebookDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(GraphHandler):
        api = double

        def _route(self, method: str) -> None:
            req = self._admitted()
            if req is None:
                return
            raw, segs = req.raw, req.segs
            if segs[:1] == ["video-upload"] and method == "POST" and len(segs) == 3:
                return self._rupload(segs[2], raw)
            if self._graph_refused(req, VERSION):
                return
            node, edge = segs[1], segs[2] if len(segs) > 2 else None
            if method == "POST" and node == double.page_id and edge == "video_reels":
                return self._reels(_form(self.headers, raw))
            if method == "POST" and node == double.page_id and edge == "videos":
                return self._videos(_form(self.headers, raw))
            if method == "GET" and edge is None and node in double.videos:
                return self._status(node)
            return self._send(400, graph_error(100, f"Unsupported {method} request on {node}", 33))

        # ------------------------------------------------------------- reels
        def _reels(self, form: dict[str, Any]) -> None:
            phase = form.get("upload_phase")
            if phase == "start":
                vid = str(120000000000000 + len(double.videos))
                double.videos[vid] = Video(kind="reel")
                host = "https://evil.example" if double.foreign_uri else double.base_url
                if double.omit_upload_url:
                    return self._send(200, {"video_id": vid})
                return self._send(200, {"video_id": vid,
                                        "upload_url": f"{host}/video-upload/{VERSION}/{vid}"})
            if phase == "finish":
                v = double.videos.get(str(form.get("video_id")))
                if v is None or v.kind != "reel":
                    return self._send(400, graph_error(100, "Invalid parameter: video_id"))
                if form.get("video_state") != "PUBLISHED":
                    return self._send(400, graph_error(100, "video_state must be PUBLISHED here"))
                return self._publish(v, "", str(form.get("description", "")))
            return self._send(400, graph_error(100, "upload_phase must be start or finish"))

        def _rupload(self, vid: str, raw: bytes) -> None:
            v = double.videos.get(vid)
            if not self._rupload_chunk(v if v is not None and v.kind == "reel" else None,
                                       f"video {vid}", raw):
                return
            if double.chunks == double.lose_chunk_answer:
                return self._drop()
            self._send(200, {"success": True})

        # ------------------------------------------------------------- page videos
        def _videos(self, form: dict[str, Any]) -> None:
            phase = form.get("upload_phase")
            if phase == "start":
                size = int(form.get("file_size") or 0)
                if size <= 0:
                    return self._send(400, graph_error(100, "file_size is required"))
                vid = str(130000000000000 + len(double.videos))
                sid = str(140000000000000 + len(double.videos))
                double.videos[vid] = Video(kind="video", size=size, session=sid)
                return self._send(200, {"video_id": vid, "upload_session_id": sid,
                                        "start_offset": "0",
                                        "end_offset": str(min(double.chunk_size, size))})
            v = next((x for x in double.videos.values()
                      if x.kind == "video" and x.session == form.get("upload_session_id")), None)
            if v is None:
                return self._send(400, graph_error(100, "Invalid upload_session_id", 1363020))
            if phase == "transfer":
                return self._transfer(v, form)
            if phase == "finish":
                if len(v.data) != v.size:
                    return self._send(400, graph_error(6001, "The video upload is incomplete", 1363041))
                return self._publish(v, str(form.get("title", "")),
                                     str(form.get("description", "")))
            return self._send(400, graph_error(100, "upload_phase must be start, transfer or finish"))

        def _transfer(self, v: Video, form: dict[str, Any]) -> None:
            assert v.size is not None
            if double.drop_after_chunks is not None and \
                    double.chunks >= double.drop_after_chunks:
                return self._drop()
            if double.reject_chunks > 0:
                double.reject_chunks -= 1
                return self._send(500, graph_error(6000, "There was a problem uploading your video "
                                            "file. Please try again.", 1363019,
                                            transient=True))
            chunk = form.get("video_file_chunk")
            start = int(form.get("start_offset") or -1)
            held = len(v.data)
            if start != held or not isinstance(chunk, bytes):
                want = {"start_offset": held, "end_offset": min(held + double.chunk_size,
                                                                v.size)}
                return self._send(400, graph_error(6001, "Your video upload timed out before it "
                                            "could be completed", 1363037, data=want))
            v.data += chunk
            double.chunks += 1
            if double.chunks == double.lose_chunk_answer:
                return self._drop()
            held = len(v.data)
            self._send(200, {"start_offset": str(held),
                             "end_offset": str(min(held + double.chunk_size, v.size))})

        # ------------------------------------------------------------- both
        def _publish(self, v: Video, title: str, description: str) -> None:
            if v.size is None or len(v.data) != v.size:
                return self._send(400, graph_error(6001, "The video upload is incomplete", 1363041))
            if v.published:  # Meta refuses a second finish of one session
                return self._send(400, graph_error(100, "This video was already published", 1363130))
            v.published, v.title, v.description = True, title, description
            double.publishes += 1
            if double.lose_finish_answer:
                double.lose_finish_answer = False
                return self._drop()
            self._send(200, {"success": True})

        def _status(self, vid: str) -> None:
            v = double.videos[vid]
            received = v.size is not None and len(v.data) == v.size
            if received and double.fail_processing:
                v.failed = True
            # Meta's example answers give no count once the upload is complete
            upload: dict[str, Any] = {"status": "complete"} if received else {
                "status": "in_progress" if v.data else "not_started",
                "bytes_transferred": len(v.data)}
            processing: dict[str, Any] = {"status": "complete" if received else "not_started"}
            publishing: dict[str, Any] = {"status": "not_started"}
            video_status = "processing" if received else "upload_not_started"
            if v.failed:
                processing = {"status": "error", "errors": [{"code": 1363008,
                                                             "message": REASON}]}
                video_status = "error"
            elif v.published:
                v.looks += 1
                done = v.looks > double.processing_polls
                publishing = {"status": "complete" if done else "in_progress"}
                video_status = "ready" if done else "processing"
            link = f"/reel/{vid}/" if v.kind == "reel" else \
                f"/{double.page_id}/videos/{vid}/"
            self._send(200, {"id": vid, "permalink_url": link, "status": {
                "video_status": video_status, "uploading_phase": upload,
                "processing_phase": processing, "publishing_phase": publishing}})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


def start_facebook_double(token: str) -> FacebookDouble:
    """Serve a double on 127.0.0.1 (a free port) in a daemon thread; call `.stop()` after."""
    double = FacebookDouble(token)
    double._server, double.base_url = serve(_handler(double), "facebook-double")
    return double
