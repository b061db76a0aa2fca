"""A real uvicorn server on 127.0.0.1, run in a thread for the tests."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn


class ServerThread:
    """Serve an ASGI app with uvicorn on a free loopback port until `stop()`."""

    def __init__(self, app: Any, *, lifespan: str = "on") -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan=lifespan,
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.run(self.server.serve())

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving and wait until the socket accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                msg = "uvicorn did not start within the timeout"
                raise RuntimeError(msg)
            time.sleep(0.01)

    @property
    def port(self) -> int:
        """The port the kernel picked for the listening socket."""
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """The server's HTTP address, such as `http://127.0.0.1:41234`."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to shut down (running lifespan shutdown) and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout_s)
