"""Two server processes sharing Redis enforce one key's requests-per-minute limit together."""

import subprocess
import sys
import time

import httpx
import pytest
from redis import Redis

from providers.emulator import EmulatorServer
from tests.deploy.servers import ROOT, free_port, prepare_database, server_env


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer")


def test_rpm_limit_holds_across_two_server_processes(tmp_path, redis_url):
    Redis.from_url(redis_url).flushdb()
    emulator = EmulatorServer().start()
    env = server_env(tmp_path, emulator_url=emulator.base_url, redis_url=redis_url, LOG_LEVEL="WARNING")
    key = prepare_database(env, "--rpm", "10")
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "aiprovider_site.asgi:application",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            cwd=ROOT,
        )
        for port in ports
    ]
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/health", server)
        # Limits count per UTC minute: start well inside one.
        if time.time() % 60 > 45:
            time.sleep(61 - time.time() % 60)
        statuses = []
        retry_after = []
        for i in range(30):
            port = ports[i % 2]
            response = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/completion",
                json={"messages": [{"role": "user", "content": f"request {i}"}]},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error_code"] == "RATE_LIMITED"
                retry_after.append(int(response.headers["Retry-After"]))
        assert statuses.count(200) == 10, statuses
        assert statuses.count(429) == 20, statuses
        assert all(1 <= seconds <= 60 for seconds in retry_after)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(20)
        emulator.stop()
