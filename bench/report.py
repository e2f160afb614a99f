"""From a run's raw figures to docs/benchmarks.md: medians over rounds, ratios, targets, profiles.

Pure functions over plain dicts (the run stores the same dict as JSON, so a report can be rendered
again without measuring: `bench/run.py --render FILE`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

# The per-worker scenarios: key in a round's figures, label, the system that serves it.
GATEWAY_SCENARIOS = (
    ("noop", "gateway, a no-op Django async view (`/api/v1/bench/noop`)"),
    ("miss", "gateway, cache miss (`/api/v1/completion`, `no-cache, no-store`)"),
    ("hit", "gateway, cache hit (`/api/v1/completion`)"),
    ("openai", "gateway, cache miss, OpenAI door (`/v1/chat/completions`)"),
)
MB = 1_000_000


@dataclass(frozen=True)
class TargetRow:
    target: str
    measured: str
    verdict: str  # "met", "missed" or "n/a"


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values: list[float], fmt: str) -> str:
    """`12.3` for one value or equal values, `10.5-12.0` for a range over rounds."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}-{high}"


def _per_round(results: dict, system: str, key: str, metric: str) -> list[float]:
    out = []
    for round_ in results["rounds"]:
        figures = round_.get(system, {}).get(key)
        if figures is not None:
            out.append(figures[metric])
    return out


def added_latency_ms(results: dict, system: str, key: str) -> list[float]:
    """Per round: the scenario's sequential p50 minus the upstream's, measured in the same round."""
    out = []
    for round_ in results["rounds"]:
        figures, upstream = round_.get(system, {}).get(f"{key}_c1"), round_["upstream"].get("c1")
        if figures is not None and upstream is not None:
            out.append(figures["p50_ms"] - upstream["p50_ms"])
    return out


def throughput_ratio(results: dict, key: str) -> list[float]:
    """Per round: gateway req/s over LiteLLM's at the throughput concurrency (rounds alternate the two)."""
    out = []
    for round_ in results["rounds"]:
        gateway, litellm = round_["gateway"].get(f"{key}_cN"), round_.get("litellm", {}).get("miss_cN")
        if gateway is not None and litellm is not None and litellm["rps"] > 0:
            out.append(gateway["rps"] / litellm["rps"])
    return out


def _errors(results: dict, system: str, key: str) -> int:
    return sum(
        figures["errors"]
        for round_ in results["rounds"]
        for suffix in ("_c1", "_cN")
        if (figures := round_.get(system, {}).get(key + suffix)) is not None
    )


def _verdict(value: float | None, ok: Callable[[float], bool]) -> str:
    if value is None:
        return "n/a"
    return "met" if ok(value) else "missed"


def stream_figures(results: dict, system: str) -> dict:
    streams = [r[system]["stream"] for r in results["rounds"] if "stream" in r.get(system, {})]
    return {
        "ttfc_p50_ms": median([s["ttfc_p50_ms"] for s in streams]),
        "ttfc_p99_ms": median([s["ttfc_p99_ms"] for s in streams]),
        "chunks_per_s": median([s["chunks_per_s"] for s in streams]),
        "errors": sum(s["errors"] for s in streams),
        "count": sum(s["count"] for s in streams),
        "ttfc_range": spread([s["ttfc_p50_ms"] for s in streams], ".2f"),
        "rate_range": spread([s["chunks_per_s"] for s in streams], ".0f"),
    }


def evaluate_targets(results: dict) -> list[TargetRow]:
    """The issue's targets against this run's figures."""
    rows = []
    compare = any("litellm" in r for r in results["rounds"])
    for key, name, ratio_goal, added_goal in (
        ("miss", "cache miss", 5.0, 2.0),
        ("hit", "cache hit", 10.0, 1.0),
    ):
        ratio = median(throughput_ratio(results, key)) if compare else None
        rows.append(
            TargetRow(
                f"{name}: req/s at {results['meta']['connections']} connections >= {ratio_goal:g}x LiteLLM",
                f"{ratio:.2f}x" if ratio is not None else "not measured (`make bench-compare`)",
                _verdict(ratio, lambda v, goal=ratio_goal: v >= goal),
            )
        )
        added = median(added_latency_ms(results, "gateway", key))
        rows.append(
            TargetRow(
                f"{name}: sequential p50 added over the upstream < {added_goal:g} ms",
                f"{added:.2f} ms" if added is not None else "-",
                _verdict(added, lambda v, goal=added_goal: v < goal),
            )
        )
    burst = results.get("burst")
    if burst:
        once = burst["gateway_at_once"]
        p99 = once["p99_s"]
        rows.append(
            TargetRow(
                f"burst: {once['count']:,} requests at once, {burst['delay_s']:g} s upstream, "
                f"default workers ({burst['workers']}): all answered, p99 < 2 s",
                f"{once['answered']:,} answered, p99 {_ms(p99)} s",
                "met" if once["failures"] == 0 and p99 is not None and p99 < 2 else "missed",
            )
        )
    memory = results.get("memory")
    if memory:
        points = memory["checkpoints"]
        peak = max(p["rss_kib"] for p in points) * 1024 / MB
        growth = points[-1]["rss_kib"] / points[0]["rss_kib"] - 1
        rows.append(TargetRow("worker RSS < 120 MB", f"{peak:.0f} MB", _verdict(peak, lambda v: v < 120)))
        rows.append(
            TargetRow(
                f"worker RSS flat within 10% from {points[0]['requests']:,} "
                f"to {points[-1]['requests']:,} requests",
                f"{growth * 100:+.1f}%",
                _verdict(growth, lambda v: abs(v) <= 0.10),
            )
        )
    if all("stream" in r.get("gateway", {}) for r in results["rounds"]) and results["rounds"]:
        gateway, upstream = stream_figures(results, "gateway"), stream_figures(results, "upstream")
        added = [
            r["gateway"]["stream"]["ttfc_p50_ms"] - r["upstream"]["stream"]["ttfc_p50_ms"]
            for r in results["rounds"]
            if r["gateway"]["stream"]["ttfc_p50_ms"] is not None
            and r["upstream"]["stream"]["ttfc_p50_ms"] is not None
        ]
        added_ttfc = median(added)
        rows.append(
            TargetRow(
                "streams: time to first chunk within 2 ms of the upstream's",
                f"+{added_ttfc:.2f} ms" if added_ttfc is not None else "-",
                _verdict(added_ttfc, lambda v: v <= 2.0),
            )
        )
        share = gateway["chunks_per_s"] / upstream["chunks_per_s"] if upstream["chunks_per_s"] else None
        rows.append(
            TargetRow(
                "streams: chunks/s per stream >= 50% of the upstream's",
                f"{share * 100:.0f}%" if share is not None else "-",
                _verdict(share, lambda v: v >= 0.5),
            )
        )
    return rows


def _ms(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _load(meta: dict) -> str:
    if meta.get("load_start") is None:
        return "not recorded"
    return f"{meta['load_start']:.1f} at the start, {meta.get('load_end', float('nan')):.1f} at the end"


def per_worker_table(results: dict) -> list[str]:
    n = results["meta"]["connections"]
    compare = any("litellm" in r for r in results["rounds"])
    lines = [
        f"| system | sequential p50 ms | added over upstream ms | {n} connections req/s | errors "
        + ("| gateway / LiteLLM req/s |" if compare else "|"),
        "| --- | ---: | ---: | ---: | ---: " + ("| ---: |" if compare else "|"),
    ]

    def row(label: str, system: str, key: str, ratio: str | None, upstream: bool = False) -> str:
        c1 = _per_round(results, system, f"{key}_c1" if not upstream else "c1", "p50_ms")
        cn = _per_round(results, system, f"{key}_cN" if not upstream else "cN", "rps")
        added = "-" if upstream else spread(added_latency_ms(results, system, key), ".2f")
        errors = (
            sum(
                r[system][k]["errors"]
                for r in results["rounds"]
                for k in ("c1", "cN")
                if upstream and k in r[system]
            )
            if upstream
            else _errors(results, system, key)
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
            f"| {label} | {s['ttfc_range']} | {_ms(s['ttfc_p99_ms'])} | {s['rate_range']} | {share} | "
            f"{s['errors']} of {s['count']} |"
        )
    return lines


def burst_table(burst: dict) -> list[str]:
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
            f"| {once['count']:,} at once | {label} | {rate:.0f} | {_ms(once['p50_s'])} | "
            f"{_ms(once['p99_s'])} | "
            f"{_ms(once['max_s'])} | {once['answered']:,} | {once['failures']} ({once['timeouts']}, -) |"
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


def render(results: dict) -> str:
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
    lines += [
        f"- Upstream: bench/upstream.py under uvicorn, a canned OpenAI-format answer at once "
        f"(`/deepseek/...` after {meta['burst_delay_s']:g} s for the burst).",
        f"- Load: wrk, sequential = 1 connection, throughput = {meta['connections']} connections, "
        f"{meta['duration_s']} s per measurement, {meta['rounds']} round(s) "
        "(ranges are over rounds, ratios are "
        f"medians of per-round ratios); streams: {meta['streams']} per system per round, one at a time."
        + (" Quick mode (`BENCH_QUICK=1`): a smoke run, not a result." if meta.get("quick") else ""),
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {row.target} | {row.measured} | {row.verdict} |" for row in evaluate_targets(results)]
    lines += ["", "## Per worker", "", *per_worker_table(results), ""]
    cache = _per_round(results, "gateway", "hit_cN", "header_counts")
    hits = sum(c.get("HIT", 0) for c in cache)
    total = sum(sum(c.values()) for c in cache)
    if total:
        lines += [f"Cache-hit scenario: {hits:,} of {total:,} answers carried `X-Cache: HIT`.", ""]
    lines += [
        "## Streams",
        "",
        "The upstream sends its 20 chunks at once, so its rate is the loopback's and the gateway's rate "
        "shows the gateway's own cost per stream (rate = text chunks / time from request to the end).",
        "",
        *stream_table(results),
        "",
    ]
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
    if "log_events" in results:
        lines += ["## Server logs", ""]
        if results["log_events"]:
            lines += [
                "What the gateway logged at warning level or above (`LOG_LEVEL=WARNING`), by server: "
                "`gateway` the per-worker rounds, `burst`, `memory`, `profile` the later phases.",
                "",
                "| server | event | count |",
                "| --- | --- | ---: |",
            ]
            for server, events in results["log_events"].items():
                lines += [f"| {server} | `{event}` | {count} |" for event, count in events.items()]
        else:
            lines.append("The gateway logged no warning or error in any phase.")
        lines.append("")
    if results.get("profiles"):
        lines += [
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
        for name, profile in results["profiles"].items():
            lines += profile_lines(name, profile)
    lines += [
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
    return "\n".join(lines)
