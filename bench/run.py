"""The benchmark: the gateway as production runs it, beside the upstream straight and (with
--compare) a LiteLLM proxy, all against the same canned upstream on loopback.

    make bench              .venv/bin/python bench/run.py
    make bench-compare      .venv/bin/python bench/run.py --compare
    BENCH_QUICK=1 make bench     a smoke run of a few minutes
    .venv/bin/python bench/run.py --render var/bench-last.json     rewrite the page from stored figures

Phases: per-worker rounds (one gunicorn worker; sequential and concurrent wrk runs for cache miss,
cache hit and the OpenAI door, then streams; LiteLLM in the same rounds, alternating), the burst
(default worker count), memory (a fresh worker), the profile pass. Writes docs/benchmarks.md and the
raw figures to var/bench-last.json. Knobs: bench/config.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import clients  # noqa: E402
from bench.config import BenchConfig  # noqa: E402
from bench.report import evaluate_targets, render  # noqa: E402
from bench.servers import (  # noqa: E402
    PYTHON,
    MissingService,
    Server,
    log_events,
    port_of,
    start_gateway,
    start_redis,
    start_upstream,
    worker_pids,
    worker_rss_kib,
)
from bench.wrk import WrkResult, wrk_run, wrk_script  # noqa: E402

MODEL = "gpt-4o-mini"
SLOW_MODEL = "deepseek-chat"  # the catalogue's DeepSeek entry: the upstream answers it after the burst delay
MESSAGES = [{"role": "user", "content": "Benchmark question"}]
NO_CACHE = {"Cache-Control": "no-cache, no-store"}
DEFAULT_DATABASE = "aiprovider_bench"
LAST_RUN = ROOT / "var" / "bench-last.json"
LOGS = ROOT / "var" / "bench-logs"
GATEWAY_LOGS = {"gateway", "burst", "memory", "profile"}
REPORT = ROOT / "docs" / "benchmarks.md"


# ----------------------------------------------------------------------------- services


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


# ----------------------------------------------------------------------------- scenarios


class Scripts:
    """The wrk scripts of a run, written once into the work directory."""

    def __init__(self, work: Path, key: str, litellm_key: str | None) -> None:
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = {"messages": MESSAGES, "model": MODEL}
        slow = {"messages": MESSAGES, "model": SLOW_MODEL}
        specs = {
            "upstream": {"body": body, "headers": {"Authorization": "Bearer sk-bench"}},
            "upstream_slow": {"body": slow, "headers": {"Authorization": "Bearer sk-bench-slow"}},
            "miss": {"body": body, "headers": {**auth, **NO_CACHE}, "count_header": "X-Cache"},
            "hit": {"body": body, "headers": auth, "count_header": "X-Cache"},
            "openai": {"body": body, "headers": {**auth, **NO_CACHE}, "count_header": "X-Cache"},
            "burst": {"body": slow, "headers": {**auth, **NO_CACHE}},
        }
        if litellm_key:
            specs["litellm"] = {
                "body": body,
                "headers": {"Authorization": f"Bearer {litellm_key}", "Content-Type": "application/json"},
            }
        self.paths = {}
        for name, spec in specs.items():
            path = work / f"{name}.lua"
            path.write_text(wrk_script(method="POST", **spec))
            self.paths[name] = path
        self.paths["noop"] = work / "noop.lua"
        self.paths["noop"].write_text(wrk_script(method="GET"))
        self.gateway_auth = auth
        self.litellm_key = litellm_key


PATHS = {
    "upstream": "/openai/v1/chat/completions",
    "upstream_slow": "/deepseek/chat/completions",
    "miss": "/api/v1/completion",
    "hit": "/api/v1/completion",
    "openai": "/v1/chat/completions",
    "burst": "/api/v1/providers/deepseek/completion",
    "litellm": "/v1/chat/completions",
    "noop": "/api/v1/bench/noop",
}


def measure(server: Server, scripts: Scripts, name: str, *, connections: int, duration_s: int, **kw) -> dict:
    result: WrkResult = wrk_run(
        server.url + PATHS[name], scripts.paths[name], connections=connections, duration_s=duration_s, **kw
    )
    figures = result.as_dict()
    print(
        f"  {server.name:8} {name:13} c={connections:<4} {figures['rps']:9.0f} req/s  "
        f"p50 {figures['p50_ms']:8.2f} ms"
        f"  p99 {figures['p99_ms']:8.2f} ms  errors {figures['errors']}",
        flush=True,
    )
    return figures


def stream_run(server: Server, path: str, headers: dict, count: int) -> dict:
    body = {"messages": MESSAGES, "model": MODEL, "stream": True}
    summary = asyncio.run(
        clients.streams(port=server.port, path=path, body=body, headers=headers, count=count)
    )
    print(
        f"  {server.name:8} stream        n={count:<4} first chunk p50 {summary['ttfc_p50_ms'] or 0:.2f} ms, "
        f"{summary['chunks_per_s']:.0f} chunks/s, errors {summary['errors']}",
        flush=True,
    )
    return summary


def stream_targets(servers: dict[str, Server], scripts: Scripts) -> dict[str, tuple[Server, str, dict]]:
    targets = {
        "upstream": (servers["upstream"], PATHS["upstream"], {"Authorization": "Bearer sk-bench"}),
        "gateway": (servers["gateway"], PATHS["miss"], {**scripts.gateway_auth, **NO_CACHE}),
    }
    if "litellm" in servers:
        targets["litellm"] = (
            servers["litellm"],
            PATHS["litellm"],
            {"Authorization": f"Bearer {scripts.litellm_key}"},
        )
    return targets


def warm_up(servers: dict[str, Server], scripts: Scripts) -> None:
    """Catalogue snapshot, key cache, provider clients, the cached answer: all loaded before measuring."""
    for name in ("noop", "miss", "hit", "openai"):
        wrk_run(servers["gateway"].url + PATHS[name], scripts.paths[name], connections=2, duration_s=2)
    if "litellm" in servers:
        wrk_run(
            servers["litellm"].url + PATHS["litellm"], scripts.paths["litellm"], connections=2, duration_s=2
        )
    for server, path, headers in stream_targets(servers, scripts).values():
        asyncio.run(
            clients.streams(
                port=server.port,
                path=path,
                body={"messages": MESSAGES, "model": MODEL, "stream": True},
                headers=headers,
                count=5,
            )
        )


def per_worker_round(index: int, cfg: BenchConfig, servers: dict[str, Server], scripts: Scripts) -> dict:
    """One round: every scenario once per system; gateway and LiteLLM take turns going first."""
    n, d = cfg.connections, cfg.duration_s
    figures: dict[str, dict] = {"upstream": {}, "gateway": {}}
    up = servers["upstream"]
    figures["upstream"]["c1"] = measure(up, scripts, "upstream", connections=1, duration_s=d)
    figures["upstream"]["cN"] = measure(up, scripts, "upstream", connections=n, duration_s=d)
    gateway_first = index % 2 == 0
    for key in ("noop", "miss", "hit", "openai"):
        turns = [("gateway", key)]
        if "litellm" in servers and key == "miss":
            figures.setdefault("litellm", {})
            turns = turns + [("litellm", "litellm")] if gateway_first else [("litellm", "litellm"), *turns]
        for system, script in turns:
            for suffix, connections in (("c1", 1), ("cN", n)):
                figures[system][f"{'miss' if system == 'litellm' else key}_{suffix}"] = measure(
                    servers[system], scripts, script, connections=connections, duration_s=d
                )
    order = list(stream_targets(servers, scripts).items())
    if not gateway_first:
        order.reverse()
    for system, (server, path, headers) in order:
        figures[system]["stream"] = stream_run(server, path, headers, cfg.streams)
    return figures


def at_once(server: Server, scripts: Scripts, name: str, count: int, body: dict) -> dict:
    headers = scripts.gateway_auth if server.name != "upstream" else {"Authorization": "Bearer sk-bench-slow"}
    if server.name != "upstream":
        headers = {**headers, **NO_CACHE}
    summary = asyncio.run(
        clients.burst(
            port=server.port, path=PATHS[name], body=body, headers=headers, count=count, timeout_s=60
        )
    )
    print(
        f"  {server.name:8} {name:13} {count} at once: {summary['answered']} answered, p50 "
        f"{summary['p50_s'] or 0:.2f} s, p99 {summary['p99_s'] or 0:.2f} s, wall {summary['wall_s']:.2f} s",
        flush=True,
    )
    return summary


def burst_phase(cfg: BenchConfig, base_env: dict, work: Path, upstream: Server, scripts: Scripts) -> dict:
    """BENCH_BURST requests against the slow upstream, through the gateway with its default worker
    count and straight: all sent at the same instant, then wrk holding as many connections."""
    timeout = max(30, cfg.burst_duration_s * 3)
    body = {"messages": MESSAGES, "model": SLOW_MODEL}
    figures: dict = {
        "connections": cfg.burst_connections,
        "duration_s": cfg.burst_duration_s,
        "delay_s": cfg.burst_upstream_delay_s,
    }
    gateway = start_gateway(
        "burst", port=port_of("burst", cfg.port_base), env=base_env, work=work, workers=None
    )
    try:
        figures["workers"] = len(worker_pids(gateway))
        wrk_run(gateway.url + PATHS["burst"], scripts.paths["burst"], connections=16, duration_s=3)
        figures["gateway_at_once"] = at_once(gateway, scripts, "burst", cfg.burst_connections, body)
        figures["gateway"] = measure(
            gateway,
            scripts,
            "burst",
            connections=cfg.burst_connections,
            duration_s=cfg.burst_duration_s,
            timeout_s=timeout,
        )
    finally:
        gateway.stop()
    figures["upstream_at_once"] = at_once(upstream, scripts, "upstream_slow", cfg.burst_connections, body)
    figures["upstream"] = measure(
        upstream,
        scripts,
        "upstream_slow",
        connections=cfg.burst_connections,
        duration_s=cfg.burst_duration_s,
        timeout_s=timeout,
    )
    return figures


def memory_phase(cfg: BenchConfig, base_env: dict, work: Path, scripts: Scripts) -> dict:
    """A fresh worker's RSS after the checkpoints' numbers of cache-miss requests."""
    gateway = start_gateway(
        "memory", port=port_of("memory", cfg.port_base), env=base_env, work=work, workers=1
    )
    try:
        warm = wrk_run(gateway.url + PATHS["miss"], scripts.paths["miss"], connections=2, duration_s=1)
        served, errors, rate = warm.requests, warm.errors, max(warm.rps, 10.0)
        start_kib = worker_rss_kib(gateway)
        checkpoints = []
        for target in cfg.memory_checkpoints:
            while served < target:
                seconds = int(min(30, max(1, (target - served) / rate)))
                result = wrk_run(
                    gateway.url + PATHS["miss"],
                    scripts.paths["miss"],
                    connections=cfg.connections,
                    duration_s=seconds,
                )
                served, errors, rate = served + result.requests, errors + result.errors, max(result.rps, 10.0)
            checkpoints.append({"requests": served, "rss_kib": worker_rss_kib(gateway)})
            print(
                f"  memory   after {served:,} requests: {checkpoints[-1]['rss_kib'] / 1024:.1f} MiB",
                flush=True,
            )
        return {"start_kib": start_kib, "checkpoints": checkpoints, "errors": errors}
    finally:
        gateway.stop()


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def profile_phase(cfg: BenchConfig, base_env: dict, work: Path, scripts: Scripts) -> dict:
    """A short sampled pass per scenario on a one-worker gateway serving bench/profiled_asgi.py."""
    gateway = start_gateway(
        "profile",
        port=port_of("profile", cfg.port_base),
        env=base_env,
        work=work,
        workers=1,
        app="bench.profiled_asgi:application",
    )
    profiles = {}
    try:
        for name in ("miss", "hit", "openai"):
            wrk_run(gateway.url + PATHS[name], scripts.paths[name], connections=2, duration_s=1)
        d, n = cfg.profile_duration_s, cfg.connections

        def wrk_load(name: str, connections: int, duration_s: int):
            return lambda: wrk_run(
                gateway.url + PATHS[name],
                scripts.paths[name],
                connections=connections,
                duration_s=duration_s,
                timeout_s=30,
            )

        def stream_load():
            deadline = time.monotonic() + d
            raw = clients.http_request(
                PATHS["miss"],
                {"messages": MESSAGES, "model": MODEL, "stream": True},
                {**scripts.gateway_auth, **NO_CACHE},
                gateway.port,
            )

            async def loop():
                while time.monotonic() < deadline:
                    await clients.stream_once(gateway.port, raw)

            asyncio.run(loop())

        passes = {
            "cache miss": wrk_load("miss", n, d),
            "cache hit": wrk_load("hit", n, d),
            "cache miss, OpenAI door": wrk_load("openai", n, d),
            "streams": stream_load,
            "burst (256 connections, slow upstream, one worker)": wrk_load("burst", 256, d + 2),
        }
        for title, load in passes.items():
            _get_json(gateway.url + "/__bench__/profile/start")
            load()
            profiles[title] = _get_json(gateway.url + "/__bench__/profile/stop")
            print(f"  profile  {title}: {profiles[title]['samples']} samples", flush=True)
    finally:
        gateway.stop()
    return profiles


# ----------------------------------------------------------------------------- the run


def machine() -> str:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    python = platform.python_version()
    return f"{os.cpu_count()} CPUs ({cpu or 'unknown'}), Linux {platform.release()}, Python {python}"


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" with local changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def run(cfg: BenchConfig, *, compare: bool) -> dict:
    if shutil.which("wrk") is None:
        raise MissingService("bench: wrk is missing (apt-get install wrk; `make bench` installs it)")
    work = Path(tempfile.mkdtemp(prefix="aip-bench-"))
    servers: dict[str, Server] = {}
    results: dict = {"rounds": []}
    try:
        database, database_label = database_url()
        redis = os.environ.get("REDIS_URL", "").strip()
        if redis:
            redis_label = "Redis (REDIS_URL)"
        else:
            servers["redis"] = start_redis(port=port_of("redis", cfg.port_base), work=work)
            redis = f"redis://127.0.0.1:{servers['redis'].port}/0"
            redis_label = "a private redis-server"
        upstream_port = port_of("upstream", cfg.port_base)
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        env = gateway_env(database=database, redis=redis, upstream_url=upstream_url, work=work)
        print("bench: preparing the database", flush=True)
        key = prepare_database(env)
        litellm_version = None
        if compare:
            from bench.litellm_proxy import MASTER_KEY, litellm_install

            litellm_version = litellm_install()
        scripts = Scripts(work, key, MASTER_KEY if compare else None)
        servers["upstream"] = start_upstream(
            port=upstream_port, env=env, work=work, slow_delay_s=cfg.burst_upstream_delay_s
        )
        servers["gateway"] = start_gateway(
            "gateway", port=port_of("gateway", cfg.port_base), env=env, work=work, workers=1
        )
        if compare:
            from bench.litellm_proxy import start_litellm

            servers["litellm"] = start_litellm(
                port=port_of("litellm", cfg.port_base),
                upstream_url=upstream_url,
                model=MODEL,
                work=work,
                env=env,
            )
        results["meta"] = {
            "command": "make bench-compare" if compare else "make bench",
            "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "machine": machine(),
            "commit": commit(),
            "database": database_label,
            "redis": redis_label,
            "litellm_version": litellm_version,
            "connections": cfg.connections,
            "duration_s": cfg.duration_s,
            "rounds": cfg.rounds,
            "streams": cfg.streams,
            "burst_delay_s": cfg.burst_upstream_delay_s,
            "profile_duration_s": cfg.profile_duration_s,
            "quick": cfg.quick,
            "load_start": os.getloadavg()[0],
        }
        print("bench: warming up", flush=True)
        warm_up(servers, scripts)
        for index in range(cfg.rounds):
            print(f"bench: round {index + 1} of {cfg.rounds}", flush=True)
            results["rounds"].append(per_worker_round(index, cfg, servers, scripts))
        if compare:
            results["litellm_rss_kib"] = worker_rss_kib(servers["litellm"])
            servers.pop("litellm").stop()
        servers.pop("gateway").stop()
        print("bench: burst", flush=True)
        results["burst"] = burst_phase(cfg, env, work, servers["upstream"], scripts)
        print("bench: memory", flush=True)
        results["memory"] = memory_phase(cfg, env, work, scripts)
        if cfg.profile:
            print("bench: profile pass", flush=True)
            results["profiles"] = profile_phase(cfg, env, work, scripts)
        results["meta"]["load_end"] = os.getloadavg()[0]
    except Exception:
        for server in servers.values():
            tail = server.log_tail()
            if tail:
                print(f"--- {server.name} log (last lines)\n{tail}", file=sys.stderr)
        raise
    finally:
        for server in servers.values():
            server.stop()
        results["log_events"] = {
            log.stem: events
            for log in sorted(work.glob("*.log"))
            if log.stem in GATEWAY_LOGS and (events := log_events(log.read_text(errors="replace")))
        }
        # The servers' own logs (warnings and errors only) outlive the run, for a look at failures.
        shutil.rmtree(LOGS, ignore_errors=True)
        LOGS.mkdir(parents=True)
        for log in work.glob("*.log"):
            shutil.copy(log, LOGS / log.name)
        shutil.rmtree(work, ignore_errors=True)
    return results


def write(results: dict) -> None:
    LAST_RUN.parent.mkdir(exist_ok=True)
    LAST_RUN.write_text(json.dumps(results, indent=1) + "\n")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(render(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="measure a LiteLLM proxy in the same rounds")
    parser.add_argument("--render", type=Path, help="rewrite docs/benchmarks.md from a stored run's JSON")
    args = parser.parse_args(argv)
    cfg = BenchConfig.from_env()
    if args.render:
        results = json.loads(args.render.read_text())
        REPORT.write_text(render(results))
    else:
        try:
            results = run(cfg, compare=args.compare)
        except MissingService as missing:
            print(missing.message, file=sys.stderr)
            return 2
        write(results)
        print(
            f"bench: wrote {REPORT.relative_to(ROOT)} and {LAST_RUN.relative_to(ROOT)} "
            f"(server logs: {LOGS.relative_to(ROOT)}/)"
        )
    rows = evaluate_targets(results)
    for row in rows:
        print(f"  {row.verdict:6} {row.target}: {row.measured}")
    missed = any(row.verdict == "missed" for row in rows)
    return 1 if cfg.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
