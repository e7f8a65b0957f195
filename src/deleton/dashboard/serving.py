"""The dashboard's WSGI app served by waitress, and stopped in order.

waitress serves from one loop thread (its sockets) and a pool of worker threads (the app), and
has no stop of its own but closing its sockets from another thread, which pulls them from
under requests in flight: a worker finishing one then writes to a closed trigger (``OSError:
[Errno 9] Bad file descriptor`` in ``pull_trigger``), and a callback still running reads a pool
already closed. Here the loop thread itself stops, in two steps: ``stop_accepting`` closes the
listening socket and makes every connection read no further request; ``drain`` waits while
the requests already read are answered (bounded by ``DRAIN``), then stops the worker threads,
then closes what is left. Only then may the caller close the pool the app reads.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

log = logging.getLogger(__name__)

THREADS = 8  # workers answering requests; the pool has as many connections
DRAIN = 10.0  # seconds the requests in flight may take to finish once the stop began


class _Channel(HTTPChannel):  # type: ignore[misc]  # waitress has no type hints
    """A connection that reads no new request once its server is stopping."""

    def readable(self) -> bool:
        return not getattr(self.server, "stopping", False) and bool(super().readable())


class Server:
    """A WSGI ``app`` on ``host:port``, served by waitress; ``run`` in the thread that serves
    (``start`` makes one), ``stop_accepting`` and then ``drain`` from any other."""

    def __init__(
        self, app: Any, host: str, port: int, threads: int = THREADS, drain: float = DRAIN
    ) -> None:
        self._map: dict[int, Any] = {}
        created = create_server(
            app, map=self._map, host=host, port=port, threads=threads, ident="deleton"
        )
        self._listeners = [d for d in self._map.values() if isinstance(d, BaseWSGIServer)]
        for listener in self._listeners:
            listener.channel_class = _Channel
            listener.stopping = False
        self._adj = created.adj
        self._workers = self._listeners[0].task_dispatcher
        self._drain = drain
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._trigger_lock = threading.Lock()
        self._trigger_closed = False
        self._thread: threading.Thread | None = None
        self.host, self.port = host, int(self._listeners[0].effective_port)

    def start(self, name: str = "dashboard") -> Server:
        """Serve on a thread of its own."""
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Serve until ``stop_accepting``, then answer what was asked and stop."""
        log.info("dashboard on http://%s:%d/", self.host, self.port)
        try:
            while not self._stopping.is_set():
                self._turn(self._adj.asyncore_loop_timeout)
            self._finish()
        finally:
            self._done.set()

    def stop_accepting(self) -> None:
        """No new connection, and no new request on an open one, from now on."""
        self._stopping.set()
        self._wake()

    def drain(self) -> None:
        """Wait until the requests in flight are answered and the workers have stopped."""
        self.stop_accepting()
        if self._thread is not None:
            self._thread.join(self._drain + 10)
        else:
            self._done.wait(self._drain + 10)

    def stop(self) -> None:
        self.stop_accepting()
        self.drain()

    def _turn(self, timeout: float) -> None:
        wasyncore.loop(timeout=timeout, map=self._map, use_poll=self._adj.asyncore_use_poll,
                       count=1)  # fmt: skip

    def _wake(self) -> None:
        with self._trigger_lock:
            if not self._trigger_closed:
                self._listeners[0].pull_trigger()

    def _connections(self) -> list[Any]:
        return [d for d in list(self._map.values()) if isinstance(d, HTTPChannel)]

    def _finish(self) -> None:
        for listener in self._listeners:
            listener.stopping = True
            listener.accepting = False
            wasyncore.dispatcher.close(listener)  # the listening socket; its trigger stays
        deadline = time.monotonic() + self._drain
        while True:
            busy = 0
            for connection in self._connections():
                if connection.requests or connection.total_outbufs_len:
                    busy += 1
                else:
                    connection.handle_close()  # idle: nothing of it is in flight
            if not busy:
                break
            if time.monotonic() > deadline:
                log.warning("dashboard: %d requests unanswered after %.0f s; stopping anyway",
                            busy, self._drain)  # fmt: skip
                break
            self._turn(0.05)
        self._workers.shutdown(cancel_pending=True, timeout=self._drain)
        for connection in self._connections():
            connection.handle_close()
        with self._trigger_lock:
            if not self._workers.threads:  # a worker still running would pull a closed one
                for listener in self._listeners:
                    listener.trigger.close()
                self._trigger_closed = True
