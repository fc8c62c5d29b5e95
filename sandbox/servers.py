"""Run an ASGI app (a sandbox server or the project's own) on a real loopback port, in a thread.

Tests talk to servers over real HTTP(S) rather than through an in-process transport, so the
bytes on the wire, the headers and TLS are exercised as they are in production.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["RunningServer", "run_asgi_in_thread"]

_START_TIMEOUT_SECONDS = 15.0
_STOP_TIMEOUT_SECONDS = 15.0


class RunningServer:
    """A uvicorn server serving in a daemon thread with its own event loop."""

    def __init__(
        self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int, scheme: str
    ) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.scheme = scheme

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Asks uvicorn to shut down gracefully and waits for the thread to end. Idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(_STOP_TIMEOUT_SECONDS)
            if self._thread.is_alive():
                # Graceful shutdown waits for open connections; do not let a stuck client hang a test.
                self._server.force_exit = True
                self._thread.join(_STOP_TIMEOUT_SECONDS)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_asgi_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> RunningServer:
    """Starts ``app`` under uvicorn in a daemon thread and returns once it accepts connections.

    ``port=0`` lets the OS pick a free port; the chosen one is in ``RunningServer.port``. Give a
    certificate and key to serve HTTPS. Raises RuntimeError if the server does not start.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level="warning",
        access_log=False,
        lifespan="auto",
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        # A fresh event loop owned by this thread. uvicorn installs no signal handlers outside the
        # main thread, so the test process keeps its own Ctrl+C handling.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        except BaseException as exc:  # SystemExit on a startup failure (e.g. port in use)
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name=f"uvicorn-{host}:{port}", daemon=True)
    thread.start()
    waited = 0.0
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(
                f"the server on {host}:{port} did not start: {failure[0] if failure else 'unknown error'}"
            )
        if waited >= _START_TIMEOUT_SECONDS:
            server.should_exit = True
            raise RuntimeError(
                f"the server on {host}:{port} did not start within {_START_TIMEOUT_SECONDS:.0f} s"
            )
        thread.join(0.01)
        waited += 0.01
    bound_port = port
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets or ():
            bound_port = int(sock.getsockname()[1])
            break
        break
    scheme = "https" if ssl_certfile else "http"
    return RunningServer(server, thread, host, bound_port, scheme)
