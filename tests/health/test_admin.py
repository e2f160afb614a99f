"""Health reports and probe results in the operator's admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from providers.models import HealthCheckResult, HealthReport, Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_health_reports_are_listed_and_shown_read_only(staff_client):
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    report = HealthReport.objects.create(
        window_start=end - timedelta(hours=1),
        window_end=end,
        providers={
            "openai": {
                "checks": 120, "uptime_percent": 97.5, "latency_p50_ms": 180.0, "latency_p95_ms": 420.0,
                "check_errors": {"TIMEOUT": 3}, "requests": 40, "errors": {"PROVIDER_UNAVAILABLE": 2},
                "failovers": 4,
            }
        },
        totals={"requests": 41, "cache_hits": 1, "failovers": 4, "errors": {"PROVIDER_UNAVAILABLE": 2}},
    )

    listing = staff_client.get(reverse("admin:providers_healthreport_changelist"))
    page = staff_client.get(reverse("admin:providers_healthreport_change", args=[report.pk]))

    assert listing.status_code == 200
    assert page.status_code == 200
    html = page.content.decode()
    for shown in ("openai", "97.5", "420.0", "TIMEOUT: 3", "PROVIDER_UNAVAILABLE: 2"):
        assert shown in html
    assert staff_client.get(reverse("admin:providers_healthreport_add")).status_code == 403


def test_probe_results_show_their_error_code(staff_client):
    provider = Provider.objects.create(name="p", kind="openai")
    HealthCheckResult.objects.create(
        provider=provider, status="unhealthy", error_code="TIMEOUT", error="no answer within 10s",
        checked_at=timezone.now(),
    )

    page = staff_client.get(reverse("admin:providers_healthcheckresult_changelist"))

    assert page.status_code == 200
    assert "TIMEOUT" in page.content.decode()
