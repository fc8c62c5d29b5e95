"""The web server of `paysync web`: textual-serve's Server, which starts one console process per
browser connection and relays its terminal over a websocket, with PaySync's access rules
(console/web/auth.py), its page addressed by the name the browser used, and a clean stop: the
consoles of open connections are told to quit before the server exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

from console.web.auth import WebPassword, access_middleware

log = logging.getLogger("paysync.web")

TITLE = "PaySync"
# How long open consoles get to quit when the server stops, before it exits anyway.
SESSION_STOP_SECONDS = 15.0


class ConsoleWebServer(Server):
    """textual-serve's Server for `command`, guarded by `password` (None: loopback only)."""

    def __init__(self, command: str, host: str, port: int, password: WebPassword | None) -> None:
        super().__init__(command, host=host, port=port, title=TITLE)
        self.password = password
        self.sessions: set[asyncio.Task[Any]] = set()

    async def make_app(self) -> web.Application:
        app = await self._make_app()
        # Outermost: a request without the password reaches no handler, so starts no console.
        app.middlewares.insert(0, access_middleware(self.password))
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: the command says where it listens (textual-serve would print its logo here)."""

    async def on_shutdown(self, app: web.Application) -> None:
        """Ask each open connection's console to quit, and wait (a while) for them to go."""
        if not self.sessions:
            return
        log.info("closing %d open console(s)", len(self.sessions))
        for task in self.sessions:
            task.cancel()  # textual-serve then sends its console "quit" and waits for it to end
        await asyncio.wait(self.sessions, timeout=SESSION_STOP_SECONDS)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        log.info("console opened for %s", request.remote)
        try:
            return await super().handle_websocket(request)
        finally:
            self.sessions.discard(task)
            log.info("console closed for %s", request.remote)

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        """The page, with its websocket and files addressed by the name the browser reached this
        server by (textual-serve would use the listen address, useless when that is 0.0.0.0)."""
        forwarded_https = request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        secure = request.secure or forwarded_https
        base = f"{'https' if secure else 'http'}://{request.host}"
        websocket_base = f"{'wss' if secure else 'ws'}://{request.host}"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{websocket_base}{request.app.router['websocket'].url_for()}",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)


async def serve_until_stopped(server: ConsoleWebServer, on_listening: Callable[[], None]) -> None:
    """Listen until SIGINT or SIGTERM, then close the open consoles and stop. OSError when the
    address cannot be listened on (in use, not this machine's)."""
    app = await server.make_app()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SESSION_STOP_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, server.host, server.port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C arrives as KeyboardInterrupt
                loop.add_signal_handler(signal_number, stop.set)
        on_listening()
        await stop.wait()
    finally:
        await runner.cleanup()
