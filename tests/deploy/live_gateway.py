"""The gateway served by a real HTTP server process, as in production (gunicorn with the uvicorn
workers of gunicorn.conf.py, or `manage.py serve`, what `make run` starts), with every provider on
the emulator: for what the Django test client cannot show (chunked bodies, header limits, the
server's own refusals, a schema fuzzer over HTTP)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from providers.emulator import EmulatorServer
from tests.deploy.servers import ROOT, prepare_database, server_env
from tests.ops.clone import free_ports

GUNICORN = Path(sys.executable).parent / "gunicorn"
# This suite's servers take ports in 18500-18599 (other server tests use their own ranges).
PORTS = (18500, 18600)


@dataclass
class LiveGateway:
    base: str
    port: int
    key: str
    log: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _command(kind: str, port: int) -> list[str]:
    if kind == "gunicorn":
        return [str(GUNICORN), "-c", "gunicorn.conf.py", "aiprovider_site.asgi:application"]
    return [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def live_gateway(tmp_path: Path, *, kind: str = "gunicorn", key_options: tuple[str, ...] = (), **extra: str):
    """Serve the gateway (production mode, SQLite in `tmp_path`) until the block ends."""
    port, emulator_port = free_ports(2, *PORTS)
    emulator = EmulatorServer(port=emulator_port).start()
    env = server_env(
        tmp_path,
        emulator_url=emulator.base_url,
        **{
            "AI_PROVIDER_HOST": "127.0.0.1",
            "AI_PROVIDER_PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "ANTHROPIC_API_KEY": "sk-ant-server-process-tests",
            "GOOGLE_AI_API_KEY": "server-process-tests",
            "DEEPSEEK_API_KEY": "sk-server-process-tests",
            **extra,
        },
    )
    key = prepare_database(env, *key_options)
    log = tmp_path / f"{kind}.log"
    process = subprocess.Popen(
        _command(kind, port), env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    gateway = LiveGateway(base=f"http://127.0.0.1:{port}", port=port, key=key, log=log, process=process)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{gateway.base}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"{kind} did not start:\n{gateway.log_text()[-3000:]}")
            time.sleep(0.3)
        yield gateway
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        emulator.stop()
