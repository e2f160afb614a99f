"""A fresh clone of the working tree for tests that run `make` as a newcomer would.

Every file git would hand out (tracked, plus new files not ignored: what the next commit holds) is
copied; nothing ignored comes along (no var/, no .env). The virtualenv is the only thing reused: a
symlink to this checkout's, with the clone's lock dated before it so make does not reinstall.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Nothing of the calling environment may decide what a newcomer sees.
SCRUBBED_PREFIXES = ("AI_PROVIDER_", "EMULATOR_", "PROVIDER_EMULATOR", "LANGFUSE_")
SCRUBBED = {
    "DATABASE_URL", "REDIS_URL", "DEVELOPMENT_MODE", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG", "STATIC_ROOT",
    "CORS_ALLOWED_ORIGINS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
}


def fresh_clone(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    venv = ROOT / ".venv"
    installed = venv / ".installed"
    if not installed.exists():
        pytest.skip("no .venv here to reuse (make venv first)")
    (dest / ".venv").symlink_to(venv)
    stamp = installed.stat().st_mtime - 60
    for lock in ("requirements/lock.txt", "requirements/lock-runtime.txt"):
        os.utime(dest / lock, (stamp, stamp))
    return dest


def newcomer_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if k not in SCRUBBED and not k.startswith(SCRUBBED_PREFIXES) and not k.endswith("_API_KEY")
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return {**env, **extra}


def free_ports(count: int, start: int = 18600, end: int = 18700) -> list[int]:
    """Ports free right now in this suite's range (18600-18699)."""
    found = []
    for port in range(start, end):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    pytest.skip(f"fewer than {count} free ports in {start}-{end - 1}")


class Make:
    """`make TARGET` in its own process group, its output collected line by line."""

    def __init__(self, cwd: Path, target: str, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", target], cwd=cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float) -> float:
        """Seconds from start until a line containing `text` was printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                self._reader.join(2)
                if any(text in line for line in self.lines):
                    return time.monotonic() - self.started
                pytest.fail(f"make exited ({self.process.returncode}) before {text!r}:\n{self.output}")
            time.sleep(0.05)
        pytest.fail(f"no {text!r} within {timeout}s:\n{self.output}")

    def stop(self) -> None:
        """Ctrl-C, as a person would; then harder. Only this process group is signalled."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._reader.join(5)


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"nothing answered on port {port}")


def printed_example(output: str) -> str:
    """The curl command the start printed (the line after "Try it")."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Try it"):
            return lines[index + 1].strip()
    pytest.fail(f"no example printed:\n{output}")
