"""Reads of the provider catalogue and health."""

from asgiref.sync import sync_to_async

from providers.models import HealthCheckResult, HealthStatus, Provider


def provider_list(*, enabled_only: bool = True) -> list[Provider]:
    qs = Provider.objects.all()
    if enabled_only:
        qs = qs.filter(enabled=True)
    return list(qs)


def _latest_checks() -> dict[str, HealthCheckResult | None]:
    latest: dict[str, HealthCheckResult | None] = {}
    for provider in provider_list():
        latest[provider.name] = (
            HealthCheckResult.objects.filter(provider=provider).order_by("-checked_at").first()
        )
    return latest


def overall_status(statuses: list[str]) -> str:
    """healthy when at least one provider is healthy; degraded when some answer but none fully;
    unhealthy when none answers."""
    if HealthStatus.HEALTHY in statuses:
        return "healthy"
    if HealthStatus.DEGRADED in statuses:
        return "degraded"
    return "unhealthy"


@sync_to_async
def provider_health_summary() -> dict:
    """Health of every enabled provider from its latest stored check."""
    providers = {}
    for name, check in _latest_checks().items():
        providers[name] = {
            "status": check.status if check else "unknown",
            "latency_ms": check.latency_ms if check else None,
            "last_checked": check.checked_at.isoformat() if check else None,
        }
    statuses = [p["status"] for p in providers.values()]
    # Before any probe has run, the service itself is up: report degraded rather than unhealthy.
    status = overall_status(statuses) if any(s != "unknown" for s in statuses) else "degraded"
    return {"status": status, "providers": providers, "metrics": {}}


HEALTH_STATUS_KEY = "health:status"


async def provider_health_statuses() -> dict[str, str]:
    """The latest probe status per provider, as the health checker publishes it."""
    from aiprovider_site.shared_state import shared_state

    return await shared_state().hgetall(HEALTH_STATUS_KEY)
