"""From a run's raw figures to docs/benchmarks.md: medians over rounds, ratios, targets, profiles.

Pure functions over plain dicts (the run stores the same dict as JSON, so a report can be rendered
again without measuring: `bench/run.py --render FILE`).
"""

from __future__ import annotations

from bench.round_figures import (
    MB,
    added_latency_ms,
    errors_total,
    median,
    ms,
    per_round,
    spread,
    stream_figures,
    throughput_ratio,
)
from bench.targets import evaluate_targets

# The per-worker scenarios: key in a round's figures, label, the system that serves it.
GATEWAY_SCENARIOS = (
    ("noop", "gateway, a no-op Django async view (`/api/v1/bench/noop`)"),
    ("miss", "gateway, cache miss (`/api/v1/completion`, `no-cache, no-store`)"),
    ("hit", "gateway, cache hit (`/api/v1/completion`)"),
    ("openai", "gateway, cache miss, OpenAI door (`/v1/chat/completions`)"),
)


def _load(meta: dict) -> str:
    if meta.get("load_start") is None:
        return "not recorded"
    return f"{meta['load_start']:.1f} at the start, {meta.get('load_end', float('nan')):.1f} at the end"


def per_worker_table(results: dict) -> list[str]:
    """The per-worker scenarios: latency, added latency, throughput and errors per system."""
    n = results["meta"]["connections"]
    compare = any("litellm" in r for r in results["rounds"])
    lines = [
        f"| system | sequential p50 ms | added over upstream ms | {n} connections req/s | errors "
        + ("| gateway / LiteLLM req/s |" if compare else "|"),
        "| --- | ---: | ---: | ---: | ---: " + ("| ---: |" if compare else "|"),
    ]

    def row(label: str, system: str, key: str, ratio: str | None, upstream: bool = False) -> str:
        c1 = per_round(results, system, f"{key}_c1" if not upstream else "c1", "p50_ms")
        cn = per_round(results, system, f"{key}_cN" if not upstream else "cN", "rps")
        added = "-" if upstream else spread(added_latency_ms(results, system, key), ".2f")
        errors = (
            sum(
                r[system][k]["errors"]
                for r in results["rounds"]
                for k in ("c1", "cN")
                if upstream and k in r[system]
            )
            if upstream
            else errors_total(results, system, key)
        )
        cells = [label, spread(c1, ".2f"), added, spread(cn, ".0f"), str(errors)]
        if compare:
            cells.append(ratio or "-")
        return "| " + " | ".join(cells) + " |"

    lines.append(row("upstream straight (bench/upstream.py)", "upstream", "", None, upstream=True))
    if compare:
        lines.append(row("LiteLLM proxy (`/v1/chat/completions`)", "litellm", "miss", "1x"))
    for key, label in GATEWAY_SCENARIOS:
        if not any(f"{key}_c1" in r["gateway"] for r in results["rounds"]):
            continue
        ratios = throughput_ratio(results, key) if key != "noop" else []
        ratio = None
        if ratios:
            ratio = f"{median(ratios):.2f}x" + (f" ({spread(ratios, '.2f')})" if len(ratios) > 1 else "")
        lines.append(row(label, "gateway", key, ratio))
    return lines


def stream_table(results: dict) -> list[str]:
    """Streams per system: time to first chunk, chunk rate and errors."""
    systems = [("upstream straight", "upstream"), ("gateway `/api/v1/completion`", "gateway")]
    if any("litellm" in r for r in results["rounds"]):
        systems.append(("LiteLLM proxy `/v1/chat/completions`", "litellm"))
    upstream = stream_figures(results, "upstream")
    lines = [
        "| system | time to first chunk p50 ms | p99 ms | chunks/s per stream | of upstream's rate "
        "| errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, system in systems:
        s = stream_figures(results, system)
        share = (
            f"{s['chunks_per_s'] / upstream['chunks_per_s'] * 100:.0f}%"
            if s["chunks_per_s"] and upstream["chunks_per_s"]
            else "-"
        )
        lines.append(
            f"| {label} | {s['ttfc_range']} | {ms(s['ttfc_p99_ms'])} | {s['rate_range']} | {share} | "
            f"{s['errors']} of {s['count']} |"
        )
    return lines


def burst_table(burst: dict) -> list[str]:
    """The burst, sent at once and held by wrk, through the gateway and straight."""
    lines = [
        "| requests | target | req/s | p50 s | p99 s | slowest s | answered | errors (timeouts, non-2xx) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    targets = (
        (f"gateway ({burst['workers']} workers) `/api/v1/providers/deepseek/completion`", "gateway"),
        ("upstream straight", "upstream"),
    )
    for label, key in targets:
        once = burst[f"{key}_at_once"]
        rate = once["answered"] / once["wall_s"] if once["wall_s"] else 0
        lines.append(
            f"| {once['count']:,} at once | {label} | {rate:.0f} | {ms(once['p50_s'])} | "
            f"{ms(once['p99_s'])} | "
            f"{ms(once['max_s'])} | {once['answered']:,} | {once['failures']} ({once['timeouts']}, -) |"
        )
    for label, key in targets:
        f = burst[key]
        if not f["requests"]:
            lines.append(
                f"| wrk, {burst['connections']:,} connections, {burst['duration_s']} s | {label} | "
                "none finished within the run | | | | 0 | |"
            )
            continue
        lines.append(
            f"| wrk, {burst['connections']:,} connections, {burst['duration_s']} s | {label} | "
            f"{f['rps']:.0f} | "
            f"{f['p50_ms'] / 1000:.2f} | {f['p99_ms'] / 1000:.2f} | {f['max_ms'] / 1000:.2f} | "
            f"{f['requests']:,} | {f['errors']} ({f['timeouts']}, {f['non2xx']}) |"
        )
    return lines


def memory_lines(memory: dict, litellm_rss_kib: int | None) -> list[str]:
    """The worker's resident set size at each checkpoint (and LiteLLM's, when measured)."""
    lines = ["| requests served by the worker | RSS MB |", "| ---: | ---: |"]
    lines.append(f"| 0 (after warm-up) | {memory['start_kib'] * 1024 / MB:.1f} |")
    for point in memory["checkpoints"]:
        lines.append(f"| {point['requests']:,} | {point['rss_kib'] * 1024 / MB:.1f} |")
    if litellm_rss_kib:
        lines += ["", f"LiteLLM's worker after its scenarios: {litellm_rss_kib * 1024 / MB:.1f} MB."]
    if memory.get("errors"):
        lines += ["", f"Errors during the memory run: {memory['errors']}."]
    return lines


def profile_lines(name: str, profile: dict, *, top: int = 15) -> list[str]:
    """One profile pass: CPU time by thread, self time by package, the top functions."""
    cpu = ", ".join(f"{thread} {seconds:.2f} s" for thread, seconds in list(profile["cpu_s"].items())[:4])
    packages = ", ".join(f"{package} {share * 100:.0f}%" for package, share in profile.get("packages", []))
    lines = [
        f"**{name}**: {profile['samples']} samples over {profile['seconds']:.1f} s; CPU time by thread: "
        f"{cpu or 'none'}.",
        "",
    ]
    if packages:
        lines += [f"Self time by package: {packages}.", ""]
    lines += [
        "| cumulative | function (share of the event loop's CPU samples) | self | innermost function |",
        "| ---: | --- | ---: | --- |",
    ]
    cumulative, own = profile["cumulative"][:top], profile["self"][:top]
    for i in range(max(len(cumulative), len(own))):
        c = cumulative[i] if i < len(cumulative) else ("", None)
        s = own[i] if i < len(own) else ("", None)
        lines.append(
            f"| {'' if c[1] is None else f'{c[1] * 100:.0f}%'} | `{c[0]}` | "
            f"{'' if s[1] is None else f'{s[1] * 100:.0f}%'} | `{s[0]}` |"
        )
    return lines + [""]


def _setup_lines(meta: dict, *, compare: bool) -> list[str]:
    lines = [
        "## Setup",
        "",
        f"- Machine: {meta['machine']}; 1-minute load average {_load(meta)} (anything above the "
        "benchmark's own processes is other work sharing the CPUs).",
        f"- Gateway: commit {meta['commit']}, gunicorn with uvicorn workers (gunicorn.conf.py), "
        f"`DEVELOPMENT_MODE=false`, `LOG_LEVEL=WARNING`, {meta['database']}, {meta['redis']}; one worker for "
        "the per-worker scenarios, streams and memory; worker recycling off (`GUNICORN_MAX_REQUESTS=0`) so "
        "memory growth shows.",
    ]
    if compare:
        lines.append(
            f"- LiteLLM: proxy {meta.get('litellm_version', '?')} in bench/.litellm, "
            "one worker, no database, no response cache, "
            "master key set, same upstream; in each round LiteLLM is measured right beside the gateway's "
            "cache miss, going first in every other round."
        )
    return lines + [
        f"- Upstream: bench/upstream.py under uvicorn, a canned OpenAI-format answer at once "
        f"(`/deepseek/...` after {meta['burst_delay_s']:g} s for the burst).",
        f"- Load: wrk, sequential = 1 connection, throughput = {meta['connections']} connections, "
        f"{meta['duration_s']} s per measurement, {meta['rounds']} round(s) "
        "(ranges are over rounds, ratios are "
        f"medians of per-round ratios); streams: {meta['streams']} per system per round, one at a time."
        + (" Quick mode (`BENCH_QUICK=1`): a smoke run, not a result." if meta.get("quick") else ""),
        "",
    ]


def _measured_lines(results: dict) -> list[str]:
    """Targets, the per-worker table, the cache-hit check and the streams."""
    lines = [
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {row.target} | {row.measured} | {row.verdict} |" for row in evaluate_targets(results)]
    lines += ["", "## Per worker", "", *per_worker_table(results), ""]
    cache = per_round(results, "gateway", "hit_cN", "header_counts")
    hits = sum(c.get("HIT", 0) for c in cache)
    total = sum(sum(c.values()) for c in cache)
    if total:
        lines += [f"Cache-hit scenario: {hits:,} of {total:,} answers carried `X-Cache: HIT`.", ""]
    return lines + [
        "## Streams",
        "",
        "The upstream sends its 20 chunks at once, so its rate is the loopback's and the gateway's rate "
        "shows the gateway's own cost per stream (rate = text chunks / time from request to the end).",
        "",
        *stream_table(results),
        "",
    ]


def _burst_and_memory_lines(results: dict, meta: dict) -> list[str]:
    lines: list[str] = []
    if results.get("burst"):
        burst = results["burst"]
        lines += [
            "## Burst",
            "",
            "Against an upstream that answers in "
            f"{burst['delay_s']:g} s: first every request sent at the same instant on its own connection "
            "(each must be answered within 60 s; the target is judged on this one), then wrk holding as "
            "many connections (its latencies are of the requests that finished within the run).",
            "",
            *burst_table(burst),
            "",
        ]
    if results.get("memory"):
        lines += [
            "## Memory",
            "",
            "A fresh one-worker gateway, cache-miss requests at "
            f"{meta['connections']} connections; the worker's resident set size (`VmRSS`).",
            "",
            *memory_lines(results["memory"], results.get("litellm_rss_kib")),
            "",
        ]
    return lines


def _log_lines(log_events: dict) -> list[str]:
    lines = ["## Server logs", ""]
    if log_events:
        lines += [
            "What the gateway logged at warning level or above (`LOG_LEVEL=WARNING`), by server: "
            "`gateway` the per-worker rounds, `burst`, `memory`, `profile` the later phases.",
            "",
            "| server | event | count |",
            "| --- | --- | ---: |",
        ]
        for server, events in log_events.items():
            lines += [f"| {server} | `{event}` | {count} |" for event, count in events.items()]
    else:
        lines.append("The gateway logged no warning or error in any phase.")
    return lines + [""]


def _profiles_lines(profiles: dict, meta: dict) -> list[str]:
    lines = [
        "## Profiles",
        "",
        f"A short pass per scenario ({meta['profile_duration_s']} s, {meta['connections']} connections; "
        "streams one at a time) on a one-worker gateway serving bench/profiled_asgi.py: SIGPROF at each "
        "millisecond of CPU time (at most one per kernel tick) records the event loop's Python stack "
        "(bench/sampler.py). C code counts "
        "for the Python function that called it (uvloop's own: `asyncio/runners.py:run`); other threads "
        "appear in the CPU time line only. The event loop and server frames under every sample "
        "(and Django's handler chain, which wraps every request whole) are left out of the cumulative "
        "column.",
        "",
    ]
    for name, profile in profiles.items():
        lines += profile_lines(name, profile)
    return lines


_RUNNING_IT = [
    "## Running it",
    "",
    "`make bench` (gateway only) or `make bench-compare` (with LiteLLM). `DATABASE_URL` and `REDIS_URL` "
    "are used when set (the Redis database is not flushed); otherwise PostgreSQL on 127.0.0.1:5432 "
    "(database `aiprovider_bench`, created if missing) and a private redis-server. Knobs: "
    "`BENCH_QUICK=1` (a smoke run of a few minutes), `BENCH_DURATION`, `BENCH_ROUNDS`, "
    "`BENCH_CONNECTIONS`, `BENCH_STREAMS`, `BENCH_BURST`, `BENCH_BURST_DURATION`, "
    "`BENCH_BURST_DELAY_S`, `BENCH_MEMORY_FIRST`, "
    "`BENCH_MEMORY_REQUESTS`, `BENCH_PROFILE=0`, `BENCH_PROFILE_DURATION`, `BENCH_PORT_BASE` (7 ports "
    "from it), `BENCH_STRICT=1` (exit 1 when a target is missed). The raw figures of the last run are in "
    "var/bench-last.json; `bench/run.py --render var/bench-last.json` rewrites this page from them.",
    "",
]


def render(results: dict) -> str:
    """docs/benchmarks.md for a run's figures."""
    meta = results["meta"]
    compare = any("litellm" in r for r in results["rounds"])
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{meta['command']}` (bench/run.py) on {meta['date']}; "
        "every figure below is from that one run. Absolute numbers depend on the machine and on "
        "what else runs on it; the ratios taken within "
        "the run (gateway over LiteLLM, gateway over the upstream straight) are the result.",
        "",
        *_setup_lines(meta, compare=compare),
        *_measured_lines(results),
        *_burst_and_memory_lines(results, meta),
    ]
    if "log_events" in results:
        lines += _log_lines(results["log_events"])
    if results.get("profiles"):
        lines += _profiles_lines(results["profiles"], meta)
    lines += _RUNNING_IT
    return "\n".join(lines)
