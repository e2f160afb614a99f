"""What routing serves, as the APIs list it: the providers as routing sees them right now (status,
health, breaker and live stats), and the public model names."""

from __future__ import annotations

from typing import Any

from providers.catalogue import catalogue_current
from routing.state import routing_view


async def provider_status_list() -> list[dict[str, Any]]:
    """Every enabled provider, by priority, with its status (available, unconfigured, circuit_open),
    health, breaker state, lifetime stats and models."""
    catalogue = await catalogue_current()
    view = await routing_view(list(catalogue.providers), fresh=True)
    rows = []
    for provider in sorted(catalogue.providers.values(), key=lambda p: (p.priority, p.name)):
        stats = view.stats.get(provider.name)
        breaker_state = view.breakers.get(provider.name)
        state = breaker_state.state if breaker_state else "closed"
        status = (
            "unconfigured"
            if not provider.configured
            else ("circuit_open" if state == "open" else "available")
        )
        rows.append(
            {
                "name": provider.name,
                "kind": provider.kind,
                "status": status,
                "health": view.health.get(provider.name, "unknown"),
                "configured": provider.configured,
                "priority": provider.priority,
                "weight": provider.weight,
                "breaker_state": state,
                "requests": stats.total_requests if stats else 0,
                "success_rate": stats.lifetime_success_rate if stats else None,
                "avg_latency_ms": round(stats.lifetime_avg_latency_ms, 2)
                if stats and stats.lifetime_avg_latency_ms is not None
                else None,
                "models": sorted(m.name for m in catalogue.models if m.provider == provider.name),
            }
        )
    return rows


async def model_public_names() -> dict[str, str]:
    """Every public model name the gateway answers to (names and aliases), sorted, each with the
    provider that serves it (the first in catalogue order)."""
    catalogue = await catalogue_current()
    seen: dict[str, str] = {}
    for entry in catalogue.models:
        for name in sorted(entry.public_names):
            seen.setdefault(name, entry.provider)
    return dict(sorted(seen.items()))
