"""The operator's admin: every page loads for staff, and an API key's secret is shown once."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from access.models import ApiKey
from access.services import api_key_create, api_key_hash
from analytics.models import UsageRecord
from providers.models import HealthCheckResult, Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.fixture
def catalogue():
    call_command("sync_providers", stdout=StringIO())


ADMIN_PAGES = [
    "admin:index",
    "admin:providers_provider_changelist",
    "admin:providers_provider_add",
    "admin:providers_providermodel_changelist",
    "admin:providers_healthcheckresult_changelist",
    "admin:analytics_usagerecord_changelist",
    "admin:access_apikey_changelist",
    "admin:access_apikey_add",
]


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_every_admin_page_loads_for_staff(staff_client, catalogue, name):
    response = staff_client.get(reverse(name))
    assert response.status_code == 200


def test_change_pages_load_for_staff(staff_client, catalogue):
    provider = Provider.objects.get(name="openai")
    response = staff_client.get(reverse("admin:providers_provider_change", args=[provider.pk]))
    assert response.status_code == 200
    assert b"gpt-4o-mini" in response.content  # models inline with prices
    assert b"OPENAI_API_KEY" in response.content
    HealthCheckResult.objects.create(provider=provider, status="healthy", latency_ms=12, checked_at="2026-01-01T00:00Z")
    assert staff_client.get(reverse("admin:providers_healthcheckresult_changelist")).status_code == 200


def test_admin_is_closed_to_anonymous_users(client):
    response = client.get(reverse("admin:providers_provider_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_provider_priority_weight_and_enabled_are_editable_in_the_list(staff_client, catalogue):
    response = staff_client.get(reverse("admin:providers_provider_changelist"))
    html = response.content.decode()
    for field in ("priority", "weight"):
        assert re.search(rf'name="form-\d+-{field}"', html), field
    # Enabled is one click: a button per provider (tests/ops/test_admin_operations.py).
    assert re.search(r'<button[^>]*formaction="/admin/providers/provider/\d+/toggle/"', html)


def test_usage_list_shows_totals_of_the_filtered_rows(staff_client):
    for provider, cost, tokens in [("openai", "0.25", 100), ("openai", "0.50", 200), ("anthropic", "4.00", 999)]:
        UsageRecord.objects.create(
            request_id=f"r-{provider}-{tokens}", provider=provider, model="m", status="success",
            prompt_tokens=tokens, completion_tokens=tokens, cost_usd=Decimal(cost), latency_ms=10,
        )
    response = staff_client.get(reverse("admin:analytics_usagerecord_changelist"), {"provider": "openai"})
    assert response.status_code == 200
    totals = response.context["usage_totals"]
    assert totals["requests"] == 2
    assert totals["cost_usd"] == Decimal("0.75")
    assert totals["prompt_tokens"] == 300
    assert b"0.75" in response.content


def test_creating_a_key_in_the_admin_shows_the_secret_once_and_stores_only_its_hash(staff_client):
    response = staff_client.post(
        reverse("admin:access_apikey_add"),
        {"name": "billing-service", "active": "on", "rpm_limit": "60"},
    )
    assert response.status_code == 200, response.content[:2000]
    secret = re.search(r"aip_[A-Za-z0-9_\-]{43}", response.content.decode()).group(0)
    key = ApiKey.objects.get(name="billing-service")
    assert key.secret_sha256 == api_key_hash(secret)
    assert secret.startswith(key.prefix)

    change_page = staff_client.get(reverse("admin:access_apikey_change", args=[key.pk]))
    assert secret not in change_page.content.decode()
    assert secret not in staff_client.get(reverse("admin:access_apikey_changelist")).content.decode()
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    assert secret not in dump.getvalue()


def test_create_api_key_command_prints_the_secret_once_and_stores_only_its_hash():
    out = StringIO()
    call_command(
        "create_api_key", "--name", "etl", "--rpm", "10", "--budget", "25.50", "--models", "gpt-4o-mini,x",
        stdout=out,
    )
    secret = re.search(r"aip_[A-Za-z0-9_\-]{43}", out.getvalue()).group(0)
    key = ApiKey.objects.get(name="etl")
    assert key.rpm_limit == 10
    assert key.monthly_budget_usd == Decimal("25.50")
    assert key.allowed_models == ["gpt-4o-mini", "x"]
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    assert secret not in dump.getvalue()
    assert key.secret_sha256 in dump.getvalue()


def test_service_created_keys_are_unique_and_well_formed():
    _, first = api_key_create(name="a")
    _, second = api_key_create(name="b")
    assert first != second
    assert re.fullmatch(r"aip_[A-Za-z0-9_\-]{43}", first)
