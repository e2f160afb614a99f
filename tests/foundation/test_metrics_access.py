"""GET /metrics: open in development, closed in production unless a token is sent or it is opened
on purpose (METRICS_PUBLIC)."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_development_mode_keeps_metrics_open(async_client, settings):
    settings.DEVELOPMENT_MODE = True
    settings.METRICS_BEARER_TOKEN = ""
    response = await async_client.get("/metrics")
    assert response.status_code == 200
    assert b"aiprovider_requests_total" in response.content


async def test_production_without_a_token_is_closed_and_says_how_to_open_it(async_client, settings):
    settings.DEVELOPMENT_MODE = False
    settings.METRICS_BEARER_TOKEN = ""
    settings.METRICS_PUBLIC = False
    response = await async_client.get("/metrics")
    assert response.status_code == 403
    body = response.json()
    assert body["error_code"] == "METRICS_CLOSED"
    assert "METRICS_BEARER_TOKEN" in body["error"] and "METRICS_PUBLIC=true" in body["error"]
    assert b"aiprovider_requests_total" not in response.content


async def test_production_opened_explicitly(async_client, settings):
    settings.DEVELOPMENT_MODE = False
    settings.METRICS_BEARER_TOKEN = ""
    settings.METRICS_PUBLIC = True
    response = await async_client.get("/metrics")
    assert response.status_code == 200
    assert b"aiprovider_requests_total" in response.content


async def test_production_with_a_token_needs_it(async_client, settings):
    settings.DEVELOPMENT_MODE = False
    settings.METRICS_BEARER_TOKEN = "scrape-secret"
    settings.METRICS_PUBLIC = True  # a token, once set, is always required
    assert (await async_client.get("/metrics")).status_code == 401
    wrong = await async_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await async_client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert right.status_code == 200
    assert b"aiprovider_requests_total" in right.content
