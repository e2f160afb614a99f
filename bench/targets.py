"""The benchmark's targets judged against a run's figures: one row per target, met or missed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.round_figures import MB, added_latency_ms, median, ms, stream_figures, throughput_ratio


@dataclass(frozen=True)
class TargetRow:
    """One target of the report: what it asks, what the run measured, the verdict."""

    target: str
    measured: str
    verdict: str  # "met", "missed" or "n/a"


def _verdict(value: float | None, ok: Callable[[float], bool]) -> str:
    if value is None:
        return "n/a"
    return "met" if ok(value) else "missed"


def _per_worker_rows(results: dict) -> list[TargetRow]:
    """Throughput against LiteLLM and latency added over the upstream, cache miss and hit."""
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
    return rows


def _burst_row(burst: dict) -> TargetRow:
    once = burst["gateway_at_once"]
    p99 = once["p99_s"]
    return TargetRow(
        f"burst: {once['count']:,} requests at once, {burst['delay_s']:g} s upstream, "
        f"default workers ({burst['workers']}): all answered, p99 < 2 s",
        f"{once['answered']:,} answered, p99 {ms(p99)} s",
        "met" if once["failures"] == 0 and p99 is not None and p99 < 2 else "missed",
    )


def _memory_rows(memory: dict) -> list[TargetRow]:
    points = memory["checkpoints"]
    peak = max(p["rss_kib"] for p in points) * 1024 / MB
    growth = points[-1]["rss_kib"] / points[0]["rss_kib"] - 1
    return [
        TargetRow("worker RSS < 120 MB", f"{peak:.0f} MB", _verdict(peak, lambda v: v < 120)),
        TargetRow(
            f"worker RSS flat within 10% from {points[0]['requests']:,} "
            f"to {points[-1]['requests']:,} requests",
            f"{growth * 100:+.1f}%",
            _verdict(growth, lambda v: abs(v) <= 0.10),
        ),
    ]


def _stream_rows(results: dict) -> list[TargetRow]:
    gateway, upstream = stream_figures(results, "gateway"), stream_figures(results, "upstream")
    added = [
        r["gateway"]["stream"]["ttfc_p50_ms"] - r["upstream"]["stream"]["ttfc_p50_ms"]
        for r in results["rounds"]
        if r["gateway"]["stream"]["ttfc_p50_ms"] is not None
        and r["upstream"]["stream"]["ttfc_p50_ms"] is not None
    ]
    added_ttfc = median(added)
    share = gateway["chunks_per_s"] / upstream["chunks_per_s"] if upstream["chunks_per_s"] else None
    return [
        TargetRow(
            "streams: time to first chunk within 2 ms of the upstream's",
            f"+{added_ttfc:.2f} ms" if added_ttfc is not None else "-",
            _verdict(added_ttfc, lambda v: v <= 2.0),
        ),
        TargetRow(
            "streams: chunks/s per stream >= 50% of the upstream's",
            f"{share * 100:.0f}%" if share is not None else "-",
            _verdict(share, lambda v: v >= 0.5),
        ),
    ]


def evaluate_targets(results: dict) -> list[TargetRow]:
    """The benchmark's targets against this run's figures."""
    rows = _per_worker_rows(results)
    if results.get("burst"):
        rows.append(_burst_row(results["burst"]))
    if results.get("memory"):
        rows += _memory_rows(results["memory"])
    if all("stream" in r.get("gateway", {}) for r in results["rounds"]) and results["rounds"]:
        rows += _stream_rows(results)
    return rows
