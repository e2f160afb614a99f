"""Fixtures for analytics: a small priced catalogue, crafted usage records, an analytics key, and
the routing suite's gateway (the app wired to the provider emulator over real HTTP)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from access.services import api_key_create
from analytics.models import UsageRecord
from analytics.tracing import tracing_reset_for_tests
from providers.models import Provider, ProviderModel
from tests.routing.conftest import (  # noqa: F401 - fixtures shared with the routing suite
    emulator_server,
    gateway,
    gateway_settings,
    live_gateway,
)

# USD per million tokens: (input, output).
PRICES = {
    ("openai", "gpt-test"): ("1.00", "2.00"),
    ("anthropic", "claude-test"): ("3.00", "15.00"),
    ("google", "gemini-test"): ("0.10", "0.40"),
}


@pytest.fixture(autouse=True)
def _fresh_tracer():
    yield
    tracing_reset_for_tests()


@pytest.fixture
def priced_catalogue(db):
    """Three providers with one model each, at the prices above (no genai-prices lookup)."""
    for (provider_name, model_name), (price_in, price_out) in PRICES.items():
        provider, _ = Provider.objects.get_or_create(
            name=provider_name, defaults={"kind": "openai", "api_key_env": f"{provider_name.upper()}_KEY"}
        )
        ProviderModel.objects.create(
            provider=provider,
            name=model_name,
            input_price_per_1m=Decimal(price_in),
            output_price_per_1m=Decimal(price_out),
        )
    return PRICES


@pytest.fixture
def make_record(db):
    """`make_record(provider=..., ago=timedelta(...), **fields)` -> a stored UsageRecord."""

    def make(*, ago: timedelta = timedelta(minutes=5), at=None, **fields) -> UsageRecord:
        fields.setdefault("request_id", uuid.uuid4().hex)
        fields.setdefault("status", "success")
        if "cost_usd" in fields:
            fields["cost_usd"] = Decimal(str(fields["cost_usd"]))
        return UsageRecord.objects.create(created_at=at or timezone.now() - ago, **fields)

    return make


@pytest.fixture
def analytics_key(db):
    key, secret = api_key_create(name="analyst", scopes=["analytics"])
    return key, secret


@pytest.fixture
def api(client, analytics_key):
    """GET with the analytics key."""
    _, secret = analytics_key

    def get(path: str, **params):
        return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {secret}")

    return get
