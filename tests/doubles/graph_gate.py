"""What Meta's Graph API does with every request before routing it, shared by the Instagram
(meta_double) and Facebook (facebook_double) doubles: its error shape, a token in the URL
refused, a missing, wrong or expired `Authorization: OAuth` token refused with the token
echoed (as the API does, so a client that logs the body would leak it), a path outside the
API version unknown, and the app's rate limit; and the upload host (rupload) both post reel
bytes to, with its faults. Each double's handler adds its own routes."""

from __future__ import annotations

import json
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit


def graph_error(code: int, message: str, subcode: int | None = None, *,
                transient: bool = False, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Graph API's error body: {"error": {message, type, code, is_transient, ...}}."""
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                           "is_transient": transient, "fbtrace_id": "A" + uuid.uuid4().hex[:10]}
    if subcode:
        err["error_subcode"] = subcode
    if data is not None:
        err["error_data"] = data
    return {"error": err}


class Request:
    """A request that got past the token checks."""

    def __init__(self, raw: bytes, parts: SplitResult) -> None:
        self.raw, self.parts = raw, parts
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.segs = [s for s in parts.path.split("/") if s]


class GraphHandler(BaseHTTPRequestHandler):
    """The handler's common part. `api` is the double (its token, lock, counters and faults:
    urls, auth_headers, tokens_in_query, expired_token, rate_limited)."""

    api: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _drop(self) -> None:
        self.close_connection = True  # no answer at all: the client sees a dropped line

    def _admitted(self) -> Request | None:
        """The request, recorded; None when it was refused for its token (answered here)."""
        api = self.api
        req = Request(self.rfile.read(int(self.headers.get("Content-Length") or 0)),
                      urlsplit(self.path))
        with api._lock:
            api.urls.append(self.path)
            api.auth_headers.append(self.headers.get("Authorization", ""))
        if "access_token" in req.query or api.token in self.path:
            api.tokens_in_query += 1
            self._send(400, graph_error(100, "access_token in the URL is refused here"))
            return None
        if self.headers.get("Authorization") != f"OAuth {api.token}" or api.expired_token:
            got = self.headers.get("Authorization", "")[6:]  # echoed, as some APIs do
            self._send(401, graph_error(190, f"Error validating access token {got}: "
                                        "Session has expired on Saturday, 05-Dec-26.", 463))
            return None
        return req

    def _graph_refused(self, req: Request, version: str) -> bool:
        """True when answered: a path outside the API version (404), or the rate limit (403).
        (Upload hosts are routed before this: they have no version and no app limit.)"""
        if len(req.segs) < 2 or req.segs[0] != version:
            self._send(404, graph_error(100, f"Unknown path {req.parts.path}"))
            return True
        if self.api.rate_limited > 0:
            self.api.rate_limited -= 1
            self._send(403, graph_error(4, "Application request limit reached"))
            return True
        return False

    def _rupload_chunk(self, target: Any, what: str, raw: bytes) -> bool:
        """The upload host taking a chunk into `target` (`.data`, `.size`; None: no such
        upload). False when answered already: an unknown upload, a dropped line
        (`drop_after_chunks`), a refused chunk (`reject_chunks`) or an offset other than the
        bytes held, in rupload's debug_info shape. True when taken: the caller answers."""
        api = self.api
        if target is None:
            self._send(400, {"debug_info": {"retriable": False, "type": "NotFoundError",
                                            "message": f"no {what}"}})
            return False
        if api.drop_after_chunks is not None and api.chunks >= api.drop_after_chunks:
            self._drop()
            return False
        if api.reject_chunks > 0:
            api.reject_chunks -= 1
            self._send(500, {"debug_info": {"retriable": True, "type": "ProcessingFailedError",
                                            "message": "Request processing failed"}})
            return False
        offset, size = int(self.headers["offset"]), int(self.headers["file_size"])
        if offset != len(target.data):
            self._send(400, {"debug_info": {"retriable": False, "type": "BadRequestError",
                                            "message": f"offset {offset} does not match the "
                                                       f"{len(target.data)} bytes received"}})
            return False
        target.data += raw
        target.size = size
        api.chunks += 1
        return True
