"""GET /metrics: Prometheus counters move with real completions through the gateway; provider and
circuit gauges are read at scrape time; the bearer token; several processes add up."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.shared_state import shared_state
from providers.selectors import HEALTH_STATUS_KEY
from routing.breaker import breaker_open

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def scrape(gateway, headers=None) -> dict:
    response = await gateway.client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


async def read_stream(response) -> list[dict]:
    raw = b"".join([part async for part in response.streaming_content]).decode()
    return [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]


async def test_counters_move_with_completions(gateway):
    before = await scrape(gateway)
    openai = {"provider": "openai", "model": "gpt-3.5-turbo"}

    first = await gateway.complete({"messages": [{"role": "user", "content": "count me"}]})
    assert first.status_code == 200
    again = await gateway.complete({"messages": [{"role": "user", "content": "count me"}]})
    assert again["X-Cache"] == "HIT"
    stream = await gateway.complete({"stream": True, "messages": [{"role": "user", "content": "stream me"}]})
    done = (await read_stream(stream))[-1]
    assert done["done"] is True
    gateway.fault("openai", "status:500")
    failed_over = await gateway.complete({"messages": [{"role": "user", "content": "fail over"}]})
    assert failed_over.status_code == 200 and int(failed_over["X-Attempts"]) > 1
    fallback = {"provider": "anthropic", "model": failed_over.json()["model"]}

    after = await scrape(gateway)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("aiprovider_requests_total", **openai, status="success") == 2
    assert delta("aiprovider_requests_total", **openai, status="cache_hit") == 1
    assert delta("aiprovider_requests_total", **fallback, status="success") == 1
    assert delta("aiprovider_cache_hits_total", **openai) == 1
    assert delta("aiprovider_failovers_total", **fallback) == 1
    assert delta("aiprovider_failovers_total", **openai) == 0
    body = first.json()
    assert delta("aiprovider_tokens_total", **openai, direction="prompt") == (
        body["usage"]["prompt_tokens"] + done["usage"]["prompt_tokens"]
    )
    assert delta("aiprovider_tokens_total", **openai, direction="completion") == (
        body["usage"]["completion_tokens"] + done["usage"]["completion_tokens"]
    )
    assert delta("aiprovider_cost_usd_total", **openai) == pytest.approx(
        body["cost_estimate"] + done["cost_estimate"]
    )
    assert delta("aiprovider_request_duration_seconds_count", **openai) == 3
    assert delta("aiprovider_request_duration_seconds_sum", **openai) > 0
    assert delta("aiprovider_time_to_first_token_seconds_count", **openai) == 1
    assert value(after, "aiprovider_in_flight_requests") == 0


async def test_provider_and_circuit_gauges_are_read_at_scrape_time(gateway):
    await shared_state().hset(HEALTH_STATUS_KEY, {"openai": "healthy", "anthropic": "unhealthy",
                                                  "google": "degraded"})
    await breaker_open(provider="anthropic", until=time.time() + 60)
    scraped = await scrape(gateway)
    assert value(scraped, "aiprovider_provider_up", provider="openai") == 1
    assert value(scraped, "aiprovider_provider_up", provider="google") == 1
    assert value(scraped, "aiprovider_provider_up", provider="anthropic") == 0
    assert ("aiprovider_provider_up", frozenset({"provider": "deepseek"}.items())) in scraped  # never probed: 0
    assert value(scraped, "aiprovider_circuit_open", provider="anthropic") == 1
    assert value(scraped, "aiprovider_circuit_open", provider="openai") == 0

    await shared_state().hset(HEALTH_STATUS_KEY, {"anthropic": "healthy"})
    assert value(await scrape(gateway), "aiprovider_provider_up", provider="anthropic") == 1


async def test_a_bearer_token_protects_the_scrape(gateway, settings):
    settings.METRICS_BEARER_TOKEN = "scrape-secret"
    refused = await gateway.client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "AUTHENTICATION_FAILED"
    assert refused["WWW-Authenticate"] == "Bearer"
    wrong = await gateway.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    # A client API key is not the scrape token either.
    assert (await gateway.client.get("/metrics", headers={"Authorization": f"Bearer {gateway.api_key}"})).status_code == 401
    await scrape(gateway, headers={"Authorization": "Bearer scrape-secret"})


WORKER = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiprovider_site.settings")
django.setup()
from analytics.metrics import metrics_record, request_started
metrics_record(provider="openai", model="m", status="success", attempts=1, prompt_tokens=10,
               completion_tokens=int(sys.argv[1]), cost_usd=0.5, latency_ms=100)
request_started()  # still in flight when this worker exits
"""

SCRAPER = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiprovider_site.settings")
django.setup()
from analytics.metrics import metrics_exposition
print(metrics_exposition().decode())
"""


def test_several_worker_processes_add_up_in_multiprocess_mode(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for completion_tokens in ("3", "4"):
        subprocess.run([sys.executable, "-c", WORKER, completion_tokens], env=env, check=True, cwd=ROOT)
    text = subprocess.run(
        [sys.executable, "-c", SCRAPER], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    scraped = samples(text)
    labels = {"provider": "openai", "model": "m"}
    assert value(scraped, "aiprovider_requests_total", **labels, status="success") == 2
    assert value(scraped, "aiprovider_tokens_total", **labels, direction="completion") == 7
    assert value(scraped, "aiprovider_cost_usd_total", **labels) == 1.0
    assert value(scraped, "aiprovider_request_duration_seconds_count", **labels) == 2
