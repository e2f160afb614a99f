"""What one benchmark run does, read from the environment (BENCH_*), with a quick mode for smoke runs.

Every knob has a default for the full run; BENCH_QUICK=1 shrinks the durations and counts so that a
whole `make bench` finishes in a couple of minutes (figures from it are only a smoke test).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# LiteLLM for `make bench-compare`, in its own virtualenv (bench/.litellm). 1.108.7 is the newest
# 1.108 release whose `proxy` extra resolves from PyPI; 1.107.0 was a compromised release.
LITELLM_REQUIREMENT = "litellm[proxy]==1.108.7"


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    duration_s: int  # one wrk measurement
    rounds: int  # per-worker rounds; with --compare each round measures both systems in turn
    connections: int  # the throughput scenarios
    streams: int  # streams per system per round, one at a time
    burst_connections: int
    burst_duration_s: int
    burst_upstream_delay_s: float
    memory_checkpoints: tuple[int, int]  # the worker's RSS is read after this many requests
    profile: bool
    profile_duration_s: int
    port_base: int  # every server of the run listens on port_base + a fixed offset
    strict: bool  # exit non-zero when a target is missed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BenchConfig:
        environ = os.environ if environ is None else environ
        quick = _flag(environ, "BENCH_QUICK", False)

        def number(name: str, full: int, fast: int) -> int:
            value = environ.get(name, "").strip()
            if not value:
                return fast if quick else full
            try:
                return int(value.removesuffix("s"))
            except ValueError as exc:
                raise SystemExit(f"bench: {name} must be a whole number, got {value!r}") from exc

        first = number("BENCH_MEMORY_FIRST", 10_000, 1_000)
        last = number("BENCH_MEMORY_REQUESTS", 100_000, 5_000)
        if last <= first:
            raise SystemExit(
                f"bench: BENCH_MEMORY_REQUESTS ({last}) must exceed BENCH_MEMORY_FIRST ({first})"
            )
        return cls(
            quick=quick,
            duration_s=number("BENCH_DURATION", 10, 3),
            rounds=number("BENCH_ROUNDS", 3, 1),
            connections=number("BENCH_CONNECTIONS", 32, 32),
            streams=number("BENCH_STREAMS", 200, 30),
            burst_connections=number("BENCH_BURST", 1000, 1000),
            burst_duration_s=number("BENCH_BURST_DURATION", 20, 10),
            burst_upstream_delay_s=float(environ.get("BENCH_BURST_DELAY_S", "1.0")),
            memory_checkpoints=(first, last),
            profile=_flag(environ, "BENCH_PROFILE", True),
            profile_duration_s=number("BENCH_PROFILE_DURATION", 8, 2),
            port_base=number("BENCH_PORT_BASE", 18600, 18600),
            strict=_flag(environ, "BENCH_STRICT", False),
        )


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SystemExit(f"bench: {name} must be 1 or 0, got {value!r}")
