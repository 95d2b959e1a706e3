"""A JupyterHub REST API double with the one route dask-gateway-server's
`JupyterHubAuthenticator` asks: a real HTTP server on 127.0.0.1.

- GET /hub/api/user with `Authorization: token {token}` -> the token's owner as the hub
  answers it ({"kind": "user", "name", "admin", "groups", "scopes", ...};
  https://jupyterhub.readthedocs.io/en/stable/reference/rest-api.html, "Return authenticated
  user's model"), 403 for a token the hub does not know.

`users` maps each user's API token to the user name (a test adds them); counters: `asked`
(every lookup) and `refused`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class HubApiDouble:
    server: ThreadingHTTPServer
    users: dict[str, str] = field(default_factory=dict)
    asked: int = 0
    refused: int = 0

    @property
    def api_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hub/api"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_hub_api_double() -> HubApiDouble:
    double: HubApiDouble

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/hub/api/user":
                self._send(404, {"status": 404, "message": "Not Found"})
                return
            double.asked += 1
            kind, _, token = (self.headers.get("Authorization") or "").partition(" ")
            name = double.users.get(token) if kind.lower() == "token" else None
            if name is None:
                double.refused += 1
                self._send(403, {"status": 403, "message": "Forbidden"})
                return
            self._send(200, {"kind": "user", "name": name, "admin": False, "groups": [],
                             "scopes": ["access:services", f"read:users!user={name}"],
                             "server": f"/user/{name}/"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    double = HubApiDouble(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return double
