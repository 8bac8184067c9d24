"""Loopback servers for tests: a free port, and an ASGI app under uvicorn in a thread.

::

    from starlette.applications import Starlette

    with serve_app(app) as server:          # 127.0.0.1, a free port
        httpx.get(f"{server.url}/orders")
        server.restart()                     # same address: for reconnect tests
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["AppServer", "free_port", "serve_app"]

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race is possible but
    rare — prefer port 0 where the server can report its port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class AppServer:
    """An ASGI app served by uvicorn in a daemon thread on ``host:port``.

    ``start()`` returns once the server accepts connections; ``stop()`` once it has
    shut down; ``restart()`` is both, on the same port. Bounded: each waits at most
    ``timeout`` seconds and raises RuntimeError past that.
    """

    def __init__(self, app: Any, *, host: str = LOOPBACK, port: int = 0,
                 timeout: float = 10.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.timeout = timeout
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        import uvicorn

        if self._thread is not None:
            raise RuntimeError("the server is already running")
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                access_log=False, ws="none", lifespan="auto")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn:{self.port}",
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + self.timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"uvicorn could not start on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"uvicorn did not start within {self.timeout}s")
            time.sleep(0.01)
        if not self.port:
            self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self.timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(self.timeout)
            if thread.is_alive():
                raise RuntimeError(f"uvicorn on port {self.port} did not stop")

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def serve_app(app: Any, *, host: str = LOOPBACK, port: int = 0,
              timeout: float = 10.0) -> Iterator[AppServer]:
    """Serve ``app`` on loopback for the ``with`` block; see :class:`AppServer`."""
    server = AppServer(app, host=host, port=port, timeout=timeout)
    server.start()
    try:
        yield server
    finally:
        server.stop()
