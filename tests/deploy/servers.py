"""Helpers for tests that run the service as separate server processes."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp_path: Path, *, emulator_url: str, redis_url: str = "", **extra: str) -> dict[str, str]:
    """Production-mode settings for a server process on a SQLite file, providers on the emulator."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings",
        "DEVELOPMENT_MODE": "false",
        "SECRET_KEY": "server-process-tests-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "AI_PROVIDER_VAR_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "PROVIDER_EMULATOR_URL": emulator_url,
        "OPENAI_API_KEY": "sk-server-process-tests",
        **extra,
    }


def prepare_database(env: dict[str, str], *key_options: str) -> str:
    """Migrate, load the catalogue, create a client key (with `key_options`); returns its secret."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT, timeout=120)
    subprocess.run(
        [*manage, "sync_providers"], env=env, check=True, cwd=ROOT, timeout=60, capture_output=True
    )
    out = subprocess.run(
        [*manage, "create_api_key", "--name", "server-tests", *key_options],
        env=env,
        check=True,
        cwd=ROOT,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]
