"""Two server processes sharing Redis enforce one key's requests-per-minute limit together."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from redis import Redis

from providers.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings",
        "DEVELOPMENT_MODE": "false",
        "SECRET_KEY": "two-servers-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "AI_PROVIDER_VAR_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "PROVIDER_EMULATOR_URL": emulator.base_url,
        "OPENAI_API_KEY": "sk-two-servers",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT, timeout=120)
    subprocess.run(
        [*manage, "sync_providers"], env=env, check=True, cwd=ROOT, timeout=60, capture_output=True
    )
    key = (
        subprocess.run(
            [*manage, "create_api_key", "--name", "shared", "--rpm", "10"],
            env=env,
            check=True,
            cwd=ROOT,
            timeout=60,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
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
