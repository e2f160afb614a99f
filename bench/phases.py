"""The phases after the per-worker rounds, each on a gateway of its own: the burst against a slow
upstream, memory over many requests, and the sampled profile pass."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

from bench import clients
from bench.config import BenchConfig
from bench.scenarios import MESSAGES, MODEL, NO_CACHE, PATHS, SLOW_MODEL, Scripts, at_once, measure
from bench.servers import Server, port_of, start_gateway, worker_pids, worker_rss_kib
from bench.wrk import wrk_run


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
