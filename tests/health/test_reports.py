"""Provider health endpoint and hourly health reports, computed from stored checks and usage records."""

from datetime import datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from analytics.models import UsageRecord
from core.shared_state import shared_state
from providers.models import HealthCheckResult, HealthReport, Provider
from providers.selectors import HEALTH_STATUS_KEY, percentile

pytestmark = pytest.mark.django_db(transaction=True)

# (status, latency_ms, error_code) for openai: 9 of 10 answered; answered latencies 50, 100..800.
OPENAI_CHECKS = [("healthy", float(ms), "") for ms in range(100, 900, 100)] + [
    ("degraded", 50.0, "RATE_LIMITED"),
    ("unhealthy", 2000.0, "TIMEOUT"),
]
ANTHROPIC_CHECKS = [("healthy", 10.0, ""), ("healthy", 20.0, ""), ("healthy", 30.0, ""), ("unhealthy", 5.0, "UNAVAILABLE")]
GOOGLE_CHECKS = [("unconfigured", None, ""), ("unconfigured", None, "")]


def write_checks(start: datetime) -> None:
    providers = {p.name: p for p in Provider.objects.all()}
    rows = []
    for name, checks in (("openai", OPENAI_CHECKS), ("anthropic", ANTHROPIC_CHECKS), ("google", GOOGLE_CHECKS)):
        for index, (status, latency, code) in enumerate(checks):
            rows.append(
                HealthCheckResult(
                    provider=providers[name],
                    status=status,
                    latency_ms=latency,
                    error_code=code,
                    error=f"{code.lower()}: details" if code else "",
                    checked_at=start + timedelta(minutes=1 + index),
                )
            )
    HealthCheckResult.objects.bulk_create(rows)


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    values = [50.0, *map(float, range(100, 900, 100))]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (400.0, 800.0, 800.0)
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == 20.0


def test_hourly_report_has_uptime_percentiles_and_errors_from_checks_and_usage(health):
    from operations.tasks import health_report_task

    window_end = timezone.now().replace(minute=0, second=0, microsecond=0)
    window_start = window_end - timedelta(hours=1)
    write_checks(window_start)
    openai = Provider.objects.get(name="openai")
    HealthCheckResult.objects.create(  # outside the window on both sides: not counted
        provider=openai, status="unhealthy", error_code="TIMEOUT", checked_at=window_start - timedelta(seconds=1)
    )
    HealthCheckResult.objects.create(provider=openai, status="unhealthy", error_code="TIMEOUT", checked_at=window_end)
    at = window_start + timedelta(minutes=30)
    UsageRecord.objects.bulk_create(
        [
            UsageRecord(request_id="1", provider="openai", model="m", status="success", created_at=at),
            UsageRecord(request_id="2", provider="openai", model="m", status="success", created_at=at),
            UsageRecord(request_id="3", provider="openai", model="m", status="success", attempts=2, created_at=at),
            UsageRecord(request_id="4", provider="openai", model="m", status="error", error_code="PROVIDER_UNAVAILABLE", attempts=3, created_at=at),
            UsageRecord(request_id="5", provider="openai", model="m", status="error", error_code="PROVIDER_UNAVAILABLE", created_at=at),
            UsageRecord(request_id="6", provider="openai", model="m", status="cache_hit", created_at=at),
            UsageRecord(request_id="7", provider="anthropic", model="m", status="success", attempts=2, created_at=at),
            UsageRecord(request_id="8", provider="", model="m", status="error", error_code="NO_PROVIDER", created_at=at),
            UsageRecord(request_id="9", provider="openai", model="m", status="success", created_at=window_end),
        ]
    )

    health_report_task.apply()
    health_report_task.apply()  # rerunning rewrites the same window's report

    report = HealthReport.objects.get()
    assert (report.window_start, report.window_end) == (window_start, window_end)
    assert report.providers["openai"] == {
        "checks": 10,
        "uptime_percent": 90.0,
        "latency_p50_ms": 400.0,
        "latency_p95_ms": 800.0,
        "check_errors": {"RATE_LIMITED": 1, "TIMEOUT": 1},
        "requests": 5,
        "errors": {"PROVIDER_UNAVAILABLE": 2},
        "failovers": 2,
    }
    assert report.providers["anthropic"] == {
        "checks": 4,
        "uptime_percent": 75.0,
        "latency_p50_ms": 20.0,
        "latency_p95_ms": 30.0,
        "check_errors": {"UNAVAILABLE": 1},
        "requests": 1,
        "errors": {},
        "failovers": 1,
    }
    assert report.providers["google"]["checks"] == 2
    assert report.providers["google"]["uptime_percent"] is None  # never called: no key
    assert report.totals == {
        "requests": 8,
        "cache_hits": 1,
        "failovers": 3,
        "errors": {"NO_PROVIDER": 1, "PROVIDER_UNAVAILABLE": 2},
    }


async def test_reports_endpoint_lists_reports_newest_first(health):
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for hours in (2, 1):
        await HealthReport.objects.acreate(
            window_start=now - timedelta(hours=hours),
            window_end=now - timedelta(hours=hours - 1),
            providers={"openai": {"checks": 120, "uptime_percent": 99.17}},
            totals={"requests": 10, "cache_hits": 0, "failovers": 0, "errors": {}},
        )

    response = await health.get("/api/v1/health/reports")

    assert response.status_code == 200, response.content
    reports = response.json()["reports"]
    assert [r["window_start"] for r in reports] == sorted((r["window_start"] for r in reports), reverse=True)
    assert set(reports[0]) == {"window_start", "window_end", "created_at", "providers", "totals"}
    assert reports[0]["providers"]["openai"]["uptime_percent"] == 99.17
    assert len((await health.get("/api/v1/health/reports?limit=1")).json()["reports"]) == 1
    assert (await health.client.get("/api/v1/health/reports")).status_code == 401


async def test_provider_health_endpoint(health):
    start = timezone.now() - timedelta(hours=1)
    await sync_to_async(write_checks)(start)
    openai = await Provider.objects.aget(name="openai")
    await HealthCheckResult.objects.acreate(  # older than 24 h: listed if asked, not in the figures
        provider=openai, status="unhealthy", error_code="TIMEOUT", checked_at=timezone.now() - timedelta(hours=25)
    )

    response = await health.get("/api/v1/providers/openai/health")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["provider"] == "openai"
    assert body["status"] == "unhealthy"  # no published status yet: the latest stored check
    assert body["checks_24h"] == 10
    assert body["uptime_percent_24h"] == 90.0
    assert body["latency_ms_24h"] == {"p50": 400.0, "p95": 800.0, "p99": 800.0}
    assert body["check_errors_24h"] == {"RATE_LIMITED": 1, "TIMEOUT": 1}
    assert len(body["checks"]) == 11
    assert body["checks"][0]["error_code"] == "TIMEOUT"  # newest first
    assert set(body["checks"][0]) == {"status", "latency_ms", "error_code", "error", "checked_at"}

    limited = (await health.get("/api/v1/providers/openai/health?limit=3")).json()
    assert [c["latency_ms"] for c in limited["checks"]] == [2000.0, 50.0, 800.0]

    await shared_state().hset(HEALTH_STATUS_KEY, {"openai": "healthy"})
    assert (await health.get("/api/v1/providers/openai/health")).json()["status"] == "healthy"


async def test_provider_health_endpoint_errors(health):
    missing = await health.get("/api/v1/providers/nope/health")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "PROVIDER_NOT_FOUND"
    assert missing.json()["context"] == {"provider": "nope"}
    assert {"error", "error_code", "timestamp", "request_id", "context"} <= set(missing.json())

    bad = await health.get("/api/v1/providers/openai/health?limit=0")
    assert bad.status_code == 400
    assert bad.json()["error_code"] == "VALIDATION_ERROR"

    assert (await health.client.get("/api/v1/providers/openai/health")).status_code == 401
