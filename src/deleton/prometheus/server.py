"""``/metrics`` (Prometheus text, from a registry) and ``/healthz`` (200 or 503, with the JSON
that says why, from whoever judges health) on one port, loopback by default, from a thread of
its own."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Health = Callable[[], tuple[bool, dict[str, Any]]]  # healthy, and what says why


class MetricsServer:
    def __init__(self, registry: CollectorRegistry, health: Health) -> None:
        self.registry = registry
        self.health = health
        self._server: ThreadingHTTPServer | None = None

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Listen on ``host:port`` and answer from a thread of its own."""
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(served.registry))
                elif self.path.startswith("/healthz"):
                    healthy, detail = served.health()
                    body = json.dumps(detail).encode()
                    self._reply(200 if healthy else 503, "application/json", body)
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds are not news

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", host, port)

    def close(self) -> None:
        """Stop listening; a scrape under way is answered (its thread is a daemon's)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
