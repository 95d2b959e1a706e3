"""How the platform doubles serve: a threaded HTTP server on 127.0.0.1 (a free port) in a
daemon thread, quiet about the dropped connections their faults make on purpose."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a fault's closed socket
            super().handle_error(request, client_address)


def serve(handler: type[BaseHTTPRequestHandler], name: str) -> tuple[QuietServer, str]:
    """Start serving `handler`; returns the server (for `stop`) and its base URL."""
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True,
                     name=name).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def stop_server(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
