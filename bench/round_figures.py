"""A run's raw figures read across rounds: medians, ranges, added latency, throughput ratios.

Pure functions over the plain dict a run stores as JSON (var/bench-last.json).
"""

from __future__ import annotations

import statistics

MB = 1_000_000


def median(values: list[float]) -> float | None:
    """The median of the values present (None when none is)."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values: list[float], fmt: str) -> str:
    """`12.3` for one value or equal values, `10.5-12.0` for a range over rounds."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}-{high}"


def per_round(results: dict, system: str, key: str, metric: str) -> list[float]:
    """One metric of one scenario, per round that measured it."""
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


def errors_total(results: dict, system: str, key: str) -> int:
    """Errors of a scenario over every round, sequential and concurrent."""
    return sum(
        figures["errors"]
        for round_ in results["rounds"]
        for suffix in ("_c1", "_cN")
        if (figures := round_.get(system, {}).get(key + suffix)) is not None
    )


def stream_figures(results: dict, system: str) -> dict:
    """A system's streams: medians over rounds, totals, and ranges."""
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


def ms(value: float | None, digits: int = 2) -> str:
    """A figure for a table cell (`-` when missing)."""
    return "-" if value is None else f"{value:.{digits}f}"
