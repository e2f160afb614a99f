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
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.config import BenchConfig  # noqa: E402
from bench.gateway_setup import database_url, gateway_env, prepare_database  # noqa: E402
from bench.phases import burst_phase, memory_phase, profile_phase  # noqa: E402
from bench.report import render  # noqa: E402
from bench.scenarios import MODEL, Scripts, per_worker_round, warm_up  # noqa: E402
from bench.servers import (  # noqa: E402
    MissingService,
    Server,
    log_events,
    port_of,
    start_gateway,
    start_redis,
    start_upstream,
    worker_rss_kib,
)
from bench.targets import evaluate_targets  # noqa: E402

LAST_RUN = ROOT / "var" / "bench-last.json"
LOGS = ROOT / "var" / "bench-logs"
GATEWAY_LOGS = {"gateway", "burst", "memory", "profile"}
REPORT = ROOT / "docs" / "benchmarks.md"


def machine() -> str:
    """The CPUs, kernel and Python the run measured on, for the report."""
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
    """The commit measured, marked when the tree has local changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" with local changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _redis(cfg: BenchConfig, work: Path, servers: dict[str, Server]) -> tuple[str, str]:
    """REDIS_URL when set, else a private redis-server: (url, how the report names it)."""
    redis = os.environ.get("REDIS_URL", "").strip()
    if redis:
        return redis, "Redis (REDIS_URL)"
    servers["redis"] = start_redis(port=port_of("redis", cfg.port_base), work=work)
    return f"redis://127.0.0.1:{servers['redis'].port}/0", "a private redis-server"


def _meta(cfg: BenchConfig, *, compare: bool, database: str, redis: str, litellm_version: str | None) -> dict:
    return {
        "command": "make bench-compare" if compare else "make bench",
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "commit": commit(),
        "database": database,
        "redis": redis,
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


def _start_systems(
    cfg: BenchConfig, work: Path, servers: dict[str, Server], *, compare: bool
) -> tuple[dict, Scripts, dict]:
    """The services, the prepared database, the upstream, the gateway and (compare) LiteLLM:
    (the gateway's environment, the wrk scripts, the run's meta)."""
    database, database_label = database_url()
    redis, redis_label = _redis(cfg, work, servers)
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
    meta = _meta(
        cfg, compare=compare, database=database_label, redis=redis_label, litellm_version=litellm_version
    )
    return env, scripts, meta


def _phases(
    cfg: BenchConfig, env: dict, work: Path, servers: dict[str, Server], scripts: Scripts, results: dict
) -> None:
    """The per-worker rounds, then the burst, memory and profile phases, each into `results`."""
    print("bench: warming up", flush=True)
    warm_up(servers, scripts)
    for index in range(cfg.rounds):
        print(f"bench: round {index + 1} of {cfg.rounds}", flush=True)
        results["rounds"].append(per_worker_round(index, cfg, servers, scripts))
    if "litellm" in servers:
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


def _keep_logs(work: Path, results: dict) -> None:
    """The warnings the gateways logged into `results`, and the servers' own logs (warnings and
    errors only) copied out of the work directory: they outlive the run, for a look at failures."""
    results["log_events"] = {
        log.stem: events
        for log in sorted(work.glob("*.log"))
        if log.stem in GATEWAY_LOGS and (events := log_events(log.read_text(errors="replace")))
    }
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    for log in work.glob("*.log"):
        shutil.copy(log, LOGS / log.name)


def run(cfg: BenchConfig, *, compare: bool) -> dict:
    """Every phase of the benchmark; the raw figures (what var/bench-last.json keeps)."""
    if shutil.which("wrk") is None:
        raise MissingService("bench: wrk is missing (apt-get install wrk; `make bench` installs it)")
    work = Path(tempfile.mkdtemp(prefix="aip-bench-"))
    servers: dict[str, Server] = {}
    results: dict = {"rounds": []}
    try:
        env, scripts, results["meta"] = _start_systems(cfg, work, servers, compare=compare)
        _phases(cfg, env, work, servers, scripts, results)
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
        _keep_logs(work, results)
        shutil.rmtree(work, ignore_errors=True)
    return results


def write(results: dict) -> None:
    """The raw figures to var/bench-last.json and the report to docs/benchmarks.md."""
    LAST_RUN.parent.mkdir(exist_ok=True)
    LAST_RUN.write_text(json.dumps(results, indent=1) + "\n")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(render(results))


def main(argv: list[str] | None = None) -> int:
    """`make bench`: run (or --render a stored run), print the targets; the exit status for CI."""
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
