"""A gateway wired to the provider emulator: the real catalogue, real adapters and SDKs, real HTTP.

Each provider of the default catalogue points at the emulator (PROVIDER_EMULATOR_URL) and has a
key in the environment; a client API key authenticates the test client.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import AsyncClient

from access.services import api_key_create
from analytics.models import UsageRecord
from analytics.services import usage_flush, usage_queue_reset_for_tests
from providers.catalogue import catalogue_invalidate_for_tests
from providers.emulator import EmulatorServer
from routing.cache import response_cache_reset_for_tests
from routing.deadlines import deadlines_reset_for_tests
from routing.state import routing_view_reset_for_tests

PROVIDER_KEYS = {
    "OPENAI_API_KEY": "sk-test-openai-key",
    "ANTHROPIC_API_KEY": "sk-ant-test-key",
    "GOOGLE_AI_API_KEY": "test-google-key",
    "DEEPSEEK_API_KEY": "sk-test-deepseek-key",
}


@pytest.fixture(scope="session")
def emulator_server():
    with EmulatorServer() as server:
        yield server


@dataclass
class Gateway:
    client: AsyncClient
    emulator: EmulatorServer
    api_key: str

    def calls(self, provider: str) -> int:
        return self.emulator.emulator.request_count(provider)

    def fault(self, provider: str, spec: str, count: int | None = None) -> None:
        self.emulator.set_fault(provider, spec, count)

    async def complete(self, body: dict | None = None, path: str = "/api/v1/completion", headers=None):
        payload = {"messages": [{"role": "user", "content": "Hello there"}], **(body or {})}
        headers = {"Authorization": f"Bearer {self.api_key}", **(headers or {})}
        return await self.client.post(path, payload, content_type="application/json", headers=headers)

    async def get(self, path: str):
        return await self.client.get(path, headers={"Authorization": f"Bearer {self.api_key}"})

    @staticmethod
    async def records() -> list[UsageRecord]:
        """Flush the usage queue, then every record in order."""

        def flush_and_read():
            usage_flush()
            return list(UsageRecord.objects.order_by("created_at"))

        return await sync_to_async(flush_and_read)()


def reset_routing_state() -> None:
    catalogue_invalidate_for_tests()
    routing_view_reset_for_tests()
    response_cache_reset_for_tests()
    usage_queue_reset_for_tests()
    deadlines_reset_for_tests()


@pytest.fixture
def gateway_settings(settings, emulator_server, monkeypatch):
    for name, value in PROVIDER_KEYS.items():
        monkeypatch.setenv(name, value)
    settings.PROVIDER_EMULATOR_URL = emulator_server.base_url
    settings.ROUTING_BACKOFF_BASE_S = 0.01
    settings.ROUTING_STATE_REFRESH_S = 0.0
    settings.CATALOGUE_REFRESH_S = 0.0
    settings.USAGE_BACKGROUND_WRITER = False
    settings.BREAKER_MIN_REQUESTS = 4
    settings.BREAKER_COOLDOWN_S = 30.0
    return settings


@pytest.fixture
def gateway(gateway_settings, emulator_server, db) -> Gateway:
    emulator_server.emulator.reset()
    call_command("sync_providers", stdout=StringIO())
    reset_routing_state()
    _, secret = api_key_create(name="routing-tests")
    client = AsyncClient()
    yield Gateway(client=client, emulator=emulator_server, api_key=secret)
    reset_routing_state()
    emulator_server.emulator.reset()


class LiveServer:
    """The gateway's ASGI app served by uvicorn on a loopback port, in a background thread."""

    def __init__(self) -> None:
        import socket
        import threading

        import uvicorn

        from aiprovider_site.asgi import application

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(application, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="gateway", daemon=True
        )

    def start(self) -> LiveServer:
        import time

        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


@pytest.fixture
def live_gateway(gateway):
    server = LiveServer().start()
    gateway.url = server.url
    yield gateway
    server.stop()
