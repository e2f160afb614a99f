"""The processes a benchmark run starts and stops: the canned upstream, the gateway under gunicorn,
a private Redis when none is given, the LiteLLM proxy. Each listens on a port of its own, fixed
relative to BENCH_PORT_BASE, so parallel runs with different bases never collide."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent

# Offsets from BENCH_PORT_BASE.
PORTS = {"upstream": 0, "gateway": 1, "litellm": 2, "redis": 3, "burst": 4, "profile": 5, "memory": 6}


class MissingService(SystemExit):
    """Something the production-like setup needs is not there: one line, exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


def port_of(name: str, base: int) -> int:
    return base + PORTS[name]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_http(url: str, *, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Until `url` answers (any HTTP status counts: the server is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with status {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            # gunicorn and uvicorn stop gracefully on SIGTERM; the whole process group goes.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(name: str, command: list[str], *, port: int, env: dict, work: Path, cwd: Path = ROOT) -> Server:
    if not port_free(port):
        raise MissingService(f"bench: port {port} ({name}) is in use; set BENCH_PORT_BASE to a free range")
    log = work / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Server(name=name, port=port, proc=proc, log=log)


def start_upstream(*, port: int, env: dict, work: Path, slow_delay_s: float) -> Server:
    server = start(
        "upstream",
        [
            PYTHON,
            "-m",
            "uvicorn",
            "bench.upstream:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--backlog",
            "4096",
        ],
        port=port,
        env={**env, "UPSTREAM_SLOW_DELAY_S": str(slow_delay_s)},
        work=work,
    )
    wait_http(f"{server.url}/openai/v1/models", proc=server.proc)
    return server


def start_gateway(
    name: str,
    *,
    port: int,
    env: dict,
    work: Path,
    workers: int | None,
    app: str = "aiprovider_site.asgi:application",
) -> Server:
    """The gateway as production runs it: gunicorn with uvicorn workers (gunicorn.conf.py).

    `workers=None` keeps gunicorn.conf.py's default (one per CPU)."""
    gateway_env = {**env, "AI_PROVIDER_HOST": "127.0.0.1", "AI_PROVIDER_PORT": str(port)}
    if workers is not None:
        gateway_env["WEB_CONCURRENCY"] = str(workers)
    else:
        gateway_env.pop("WEB_CONCURRENCY", None)
    server = start(
        name,
        [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), app],
        port=port,
        env=gateway_env,
        work=work,
    )
    # The no-op view (BENCHMARK_NOOP_VIEW): up, with the app loaded, and nothing in the log.
    wait_http(f"{server.url}/api/v1/bench/noop", proc=server.proc)
    server.extra["workers"] = workers
    return server


def start_redis(*, port: int, work: Path) -> Server:
    if not _which("redis-server"):
        raise MissingService(
            "bench: REDIS_URL is not set and redis-server is not installed (apt-get install redis)"
        )
    server = start(
        "redis",
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work),
        ],
        port=port,
        env=dict(os.environ),
        work=work,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise MissingService(
        f"bench: the private redis-server on port {port} did not start: {server.log_tail(3)}"
    )


def _which(program: str) -> bool:
    from shutil import which

    return which(program) is not None


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pids(server: Server) -> list[int]:
    """gunicorn's workers (the master's children); a server without children is its own worker."""
    return children(server.proc.pid) or [server.proc.pid]


def worker_rss_kib(server: Server) -> int:
    """The largest resident set among the server's workers."""
    return max(rss_kib(pid) for pid in worker_pids(server))


def log_events(text: str) -> dict[str, int]:
    """What a gateway log says beyond the normal: structlog JSON lines at warning level or above,
    counted by event, and gunicorn's own error lines (a worker timeout, a failed boot)."""
    events: Counter[str] = Counter()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if str(record.get("level", "")).lower() in {"warning", "error", "critical"}:
                events[f"{record['level'].lower()}: {record.get('event', '?')}"] += 1
        elif "[ERROR]" in line or "[CRITICAL]" in line or line.startswith("Traceback"):
            # gunicorn: "[2026-11-30 04:11:06 +0000] [123] [ERROR] Worker (pid:124) was sent SIGKILL!"
            events["gunicorn: " + line.split("] ")[-1][:120]] += 1
    return dict(events.most_common())
