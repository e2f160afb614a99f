"""The gateway's setup for a benchmark: the PostgreSQL it uses, its production settings with only
what a loopback run must change, and a database migrated, synced and holding a client key."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

from bench.servers import PYTHON, ROOT, MissingService

DEFAULT_DATABASE = "aiprovider_bench"


def database_url() -> tuple[str, str]:
    """The PostgreSQL to use and how the report names it (never the URL: it may hold a password)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        if not url.startswith(("postgres://", "postgresql://")):
            raise MissingService("bench: DATABASE_URL must point at PostgreSQL for the production-like setup")
        return url, "PostgreSQL (DATABASE_URL)"
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError as exc:
        raise MissingService(
            "bench: PostgreSQL is missing: set DATABASE_URL, or run a server on 127.0.0.1:5432"
        ) from exc
    import psycopg

    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DEFAULT_DATABASE]
            ).fetchone():
                conn.execute(f'CREATE DATABASE "{DEFAULT_DATABASE}"')
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise MissingService(
            f"bench: cannot use PostgreSQL on 127.0.0.1:5432 ({first}); set DATABASE_URL"
        ) from exc
    return (
        f"postgres://postgres@127.0.0.1:5432/{DEFAULT_DATABASE}",
        f"PostgreSQL (127.0.0.1:5432/{DEFAULT_DATABASE})",
    )


def gateway_env(*, database: str, redis: str, upstream_url: str, work: Path) -> dict[str, str]:
    """Production settings, with only what a loopback benchmark must change."""
    env = {
        k: v
        for k, v in os.environ.items()
        # Providers the canned upstream cannot speak stay unconfigured.
        if not k.startswith("BENCH_")
        and k not in {"ANTHROPIC_API_KEY", "GOOGLE_AI_API_KEY", "WEB_CONCURRENCY"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "aiprovider_site.settings",
            "AI_PROVIDER_ENV_FILE": str(work / "no.env"),  # a developer's .env must not leak in
            "DEVELOPMENT_MODE": "false",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # No TLS-terminating proxy in front on loopback.
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": database,
            "REDIS_URL": redis,
            "AI_PROVIDER_VAR_DIR": str(work),
            "STATIC_ROOT": str(work / "static"),
            "PROVIDER_EMULATOR_URL": upstream_url,
            "OPENAI_API_KEY": "sk-bench",
            "DEEPSEEK_API_KEY": "sk-bench-slow",
            "RESPONSE_CACHE_TTL_S": "3600",
            # /api/v1/bench/noop: a Django async view that does nothing, the floor under every scenario.
            "BENCHMARK_NOOP_VIEW": "true",
            # Recycling would reset the worker's memory in the middle of the memory run.
            "GUNICORN_MAX_REQUESTS": "0",
        }
    )
    return env


def manage(env: dict, *args: str) -> str:
    """`manage.py` with the gateway's environment; its output, or the run stops with its error."""
    done = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: manage.py {args[0]} failed:\n{done.stderr.strip()[-2000:]}")
    return done.stdout


def prepare_database(env: dict) -> str:
    """Migrations, the catalogue, and a client key with limits (the admission path runs in full)."""
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "sync_providers")
    out = manage(
        env,
        "create_api_key",
        "--name",
        f"bench-{int(time.time())}",
        # Limits far above what a run can use (tpm: the field's largest value).
        "--rpm",
        "1000000000",
        "--tpm",
        "2000000000",
        "--budget",
        "1000000",
    )
    return out.strip().splitlines()[-1]
