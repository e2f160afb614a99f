"""Usage records queued in Redis survive `kill -9` of Redis under the compose file's own Redis
arguments (read from docker-compose.yml, so the two cannot drift): between an answer and the flush,
the stream is the only copy of a record."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from asgiref.sync import async_to_sync
from redis import Redis

from analytics.models import UsageRecord
from analytics.services import UsageEvent, usage_flush, usage_record_enqueue
from tests.ops.clone import free_ports

ROOT = Path(__file__).resolve().parents[2]
REDIS_COMMAND = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["redis"]["command"]

pytestmark = pytest.mark.django_db


class PrivateRedis:
    """redis-server with the given arguments on a loopback port, its files in `directory`."""

    def __init__(self, args: list[str], port: int, directory: Path) -> None:
        self.args, self.port, self.directory = args, port, directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            [
                "redis-server", *self.args, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"),
            ]
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if Redis.from_url(self.url, socket_timeout=1).ping():
                    return self
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"redis-server did not start:\n{log}")
                time.sleep(0.05)

    def kill_9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path, settings):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    servers: list[PrivateRedis] = []

    def start(args: list[str]) -> PrivateRedis:
        server = PrivateRedis(args, free_ports(1, 18300, 18400)[0], tmp_path).start()
        servers.append(server)
        settings.REDIS_URL = server.url
        settings.USAGE_BACKGROUND_WRITER = False
        return server

    yield start
    for server in servers:
        server.stop()


def enqueue(request_ids: list[str]) -> None:
    async def all_of_them():
        for request_id in request_ids:
            await usage_record_enqueue(
                UsageEvent(request_id=request_id, status="success", provider="openai", prompt_tokens=5)
            )

    async_to_sync(all_of_them)()


def test_the_compose_redis_persists_with_aof_and_an_fsync_every_second():
    assert REDIS_COMMAND[0] == "redis-server"
    options = dict(zip(REDIS_COMMAND[1::2], REDIS_COMMAND[2::2], strict=True))
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] == "everysec"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert any(volume.endswith(":/data") for volume in compose["services"]["redis"]["volumes"])


def test_kill_9_and_a_restart_lose_no_queued_record_under_the_compose_settings(private_redis):
    redis = private_redis(REDIS_COMMAND[1:])
    ids = [f"persisted-{i}" for i in range(500)]
    enqueue(ids[:300])
    assert usage_flush() == 300  # the writer was running: these are in the database, acknowledged
    enqueue(ids[300:])  # ... and these only in the stream when Redis dies
    redis.kill_9()
    redis.start()  # same port, same directory
    assert usage_flush() == 200
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == sorted(ids)


def test_without_persistence_the_same_crash_loses_the_queued_records(private_redis):
    """The arguments the compose file had before: what the test above guards against."""
    redis = private_redis(["--save", "", "--appendonly", "no"])
    enqueue([f"lost-{i}" for i in range(50)])
    redis.kill_9()
    redis.start()
    assert usage_flush() == 0
    assert not UsageRecord.objects.exists()
