"""`GET /metrics`: the Prometheus exposition. Lives in operations because the gauges read at scrape
time (circuit breakers) belong to routing, which analytics must not import.

Outside /api/, so no client key applies. With METRICS_BEARER_TOKEN set it needs
`Authorization: Bearer <token>` (401 in the error envelope otherwise). Without one it is open in
development mode, or in production when METRICS_PUBLIC is true (a network that only the scraper
reaches); otherwise production answers 403 saying which of the two to set: what the service's
counters reveal (models, providers, traffic, failures) is not for anyone who finds the URL.
"""

from __future__ import annotations

import hmac
import time

import structlog
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily

from analytics.metrics import metrics_exposition
from core.errors import error_body, shaped_error_body
from providers.catalogue import catalogue_current
from providers.selectors import provider_health_statuses
from routing.breaker import breaker_read

logger = structlog.get_logger(__name__)

# Health statuses that count as up: a degraded provider still answers.
UP_STATUSES = frozenset({"healthy", "degraded"})


def _error_response(
    request, *, message: str, status_code: int, error_code: str, context: dict | None = None
) -> JsonResponse:
    """The error envelope (a plain Django view: DRF's exception handler does not render it)."""
    request_id = getattr(request, "request_id", None)
    body = error_body(message=message, error_code=error_code, request_id=request_id, context=context)
    return JsonResponse(shaped_error_body(request.path, body, status_code), status=status_code)


def _refusal(request) -> JsonResponse | None:
    """None when the scrape may proceed, else the error answer."""
    token = settings.METRICS_BEARER_TOKEN
    if not token:
        if settings.DEVELOPMENT_MODE or settings.METRICS_PUBLIC:
            return None
        return _error_response(
            request,
            message=(
                "GET /metrics is closed in production: set METRICS_BEARER_TOKEN (and send it as a "
                "Bearer token) or METRICS_PUBLIC=true."
            ),
            status_code=403, error_code="METRICS_CLOSED",
        )
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
        return None
    response = _error_response(
        request, message="A valid metrics bearer token is required.", status_code=401,
        error_code="AUTHENTICATION_FAILED", context={"reason": "invalid"},
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


async def _scrape_time_families() -> list:
    """Provider health and circuit state, read from shared state now (every worker sees the same)."""
    up = GaugeMetricFamily(
        "aiprovider_provider_up", "1 when the latest health probe found the provider healthy or degraded.",
        labels=["provider"],
    )
    circuit = GaugeMetricFamily(
        "aiprovider_circuit_open", "1 while the provider's circuit breaker is open.", labels=["provider"]
    )
    try:
        catalogue = await catalogue_current()
        names = set(catalogue.providers)
    except Exception:
        logger.warning("metrics_catalogue_unavailable")
        names = set()
    try:
        health = await provider_health_statuses()
        breakers, _closed_at = await breaker_read(now=time.time())
    except Exception:  # shared state down: leave the gauges out rather than fail the scrape
        logger.warning("metrics_shared_state_unavailable")
        return [up, circuit]
    for name in sorted(names | set(health)):
        up.add_metric([name], 1.0 if health.get(name) in UP_STATUSES else 0.0)
    for name in sorted(names | set(breakers)):
        state = breakers.get(name)
        circuit.add_metric([name], 1.0 if state is not None and state.state == "open" else 0.0)
    return [up, circuit]


@require_GET
async def metrics_view(request):
    """The Prometheus exposition: analytics' counters and the gauges read from shared state now."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    body = metrics_exposition(await _scrape_time_families())
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
