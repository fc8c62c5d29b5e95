"""The Web Connector endpoint hosted inside the console, on Textual's own event loop.

DESIGN checked that `uvicorn.Server(config).serve()` run as a worker of a Textual app serves
requests on the app's loop and that `should_exit = True` stops it. uvicorn's own logging is
silenced: anything it printed would tear the terminal UI.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn

from sync.settings import Settings


class WebConnectorEndpoint:
    def __init__(self, settings: Settings, app: Any) -> None:
        self.settings = settings
        scheme = "https" if settings.qbwc_tls_cert else "http"
        host = settings.qbwc_host
        self.url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.qbwc_port}/qbwc"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.qbwc_host,
                port=settings.qbwc_port,
                ssl_certfile=settings.qbwc_tls_cert,
                ssl_keyfile=settings.qbwc_tls_key,
                log_config=None,
                log_level="critical",
                access_log=False,
                lifespan="off",
            )
        )

    async def serve(self) -> None:
        logging.getLogger("uvicorn.error").disabled = True
        await self._server.serve()
        if not self._server.started and not self._server.should_exit:
            raise OSError(
                f"The Web Connector endpoint could not listen on {self.settings.qbwc_host}:{self.settings.qbwc_port} "
                "(is `paysync serve` already running there?). Stop the other one, or set QBWC_PORT."
            )

    def stop(self) -> None:
        self._server.should_exit = True
