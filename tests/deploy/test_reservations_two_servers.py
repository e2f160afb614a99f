"""Budgets and tokens per minute hold under concurrency across two server processes sharing Redis
and PostgreSQL: a burst overshoots a key's limit by at most one request's reservation."""

import asyncio
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import httpx
import psycopg
import pytest
from redis import Redis

from providers.emulator import EmulatorServer
from tests.deploy.servers import ROOT, prepare_database, server_env
from tests.deploy.test_two_servers import wait_until_up
from tests.ops.clone import free_ports

# About 8,000 prompt tokens; with max_tokens 50 on gpt-4o-mini (USD 0.15 / 0.60 per million) one
# request's worst case is about USD 0.00123 and its real cost about USD 0.0012.
LONG_PROMPT = "Summarise the following. " + "The quick brown fox jumps over the lazy dog. " * 720
RESERVATION_USD = Decimal("0.00125")


@pytest.fixture
def database_url(tmp_path):
    """A database of its own for the server processes: PostgreSQL when the suite runs on it."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    name = f"reservations_{uuid.uuid4().hex[:10]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env, *args: str) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True, cwd=ROOT, timeout=120,
        capture_output=True, text=True,
    ).stdout


RECORDS_BY_KEY = """
from analytics.services import usage_flush
from analytics.models import UsageRecord
from django.db.models import Sum
usage_flush()
for row in UsageRecord.objects.values("api_key__name").annotate(
        cost=Sum("cost_usd"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")):
    print("ROW", row["api_key__name"], row["cost"], row["prompt"] + row["completion"])
"""


async def burst(ports: list[int], key: str, count: int, body: dict) -> list[int]:
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(i: int) -> int:
            response = await client.post(
                f"http://127.0.0.1:{ports[i % 2]}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}", "Cache-Control": "no-cache, no-store"},
            )
            assert response.status_code in (200, 402, 429), response.text
            return response.status_code

        return await asyncio.gather(*(one(i) for i in range(count)))


def test_a_burst_overshoots_budget_and_tokens_per_minute_by_at_most_one_reservation(
    tmp_path, redis_url, database_url
):
    Redis.from_url(redis_url).flushdb()
    emulator_port, *ports = free_ports(3, 18800, 18900)
    emulator = EmulatorServer(port=emulator_port).start()
    emulator.set_fault("openai", "latency:300")  # requests overlap: all fifty in flight at once
    env = server_env(
        tmp_path, emulator_url=emulator.base_url, redis_url=redis_url, LOG_LEVEL="WARNING",
        DATABASE_URL=database_url,
    )
    budget_key = prepare_database(env, "--budget", "0.01")
    tpm_key = manage(env, "create_api_key", "--name", "tpm-tests", "--tpm", "1000").strip().splitlines()[-1]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "aiprovider_site.asgi:application", "--port", str(port),
             "--log-level", "warning", "--no-access-log"],
            env=env, cwd=ROOT,
        )
        for port in ports
    ]
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/health", server)
        if time.time() % 60 > 40:  # the token burst stays inside one minute's window
            time.sleep(61 - time.time() % 60)

        budget_statuses = asyncio.run(burst(ports, budget_key, 50, {
            "model": "gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": LONG_PROMPT}],
        }))
        # Each request reserves prompt + 60 tokens; the emulator's answers are shorter.
        tpm_statuses = asyncio.run(burst(ports, tpm_key, 100, {
            "model": "gpt-4o-mini", "max_tokens": 60, "messages": [{"role": "user", "content": "Tell me a story"}],
        }))

        spent = {}
        for line in manage(env, "shell", "-c", RECORDS_BY_KEY).splitlines():
            if not line.startswith("ROW "):
                continue
            _, name, cost, tokens = line.split()
            spent[name] = (Decimal(cost), int(tokens))

        admitted = budget_statuses.count(200)
        assert 0 < admitted < 50 and budget_statuses.count(402) == 50 - admitted
        cost, _ = spent["server-tests"]
        # Without reservations all fifty were admitted and spent about USD 0.06.
        assert cost <= Decimal("0.01") + RESERVATION_USD, (admitted, cost)

        assert 0 < tpm_statuses.count(200) < 100 and tpm_statuses.count(429) == 100 - tpm_statuses.count(200)
        _, tokens = spent["tpm-tests"]
        assert tokens <= 1000 + 80, (tpm_statuses.count(200), tokens)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(20)
        emulator.stop()
