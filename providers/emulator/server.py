"""Running the emulator on a loopback port in a background thread (tests, local development)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .app import Emulator
from .protocols import base_url_for


class EmulatorServer:
    """The emulator served by uvicorn on 127.0.0.1 in a daemon thread.

    with EmulatorServer() as server:
        config = ProviderConfig(name="openai", kind="openai", base_url=server.url_for("openai"), ...)
        server.emulator.set_fault("openai", "status:503", count=1)
    """

    def __init__(
        self,
        emulator: Emulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.emulator = emulator or Emulator()
        self.host = host
        self.port = port
        self.log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the emulator server is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    def url_for(self, provider: str, kind: str | None = None) -> str:
        """The base_url to configure for `provider` (protocol guessed from the name if no `kind`)."""
        return base_url_for(self.base_url, provider, kind)

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.emulator,
            lifespan="off",
            log_level=self.log_level,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="provider-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the provider emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # Shortcuts to the emulator's control API.
    def set_fault(self, provider: str, fault: str, count: int | None = None) -> None:
        self.emulator.set_fault(provider, fault, count)

    def clear_faults(self, provider: str | None = None) -> None:
        self.emulator.clear_faults(provider)

    def reset(self) -> None:
        self.emulator.reset()

    def stats(self) -> dict[str, Any]:
        return self.emulator.stats()

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]:
        return self.emulator.requests(provider)
