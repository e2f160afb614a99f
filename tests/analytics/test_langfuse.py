"""Langfuse: every completion is exported through the official SDK to the ingestion endpoint (here a
fake on 127.0.0.1); a hanging Langfuse slows no request."""

import asyncio
import json
import threading
import time
import uuid

import pytest

from analytics.tracing import tracing_flush
from tests.analytics.fake_langfuse import OTLP_PATH, FakeLangfuse

pytestmark = pytest.mark.django_db(transaction=True)


def use_langfuse(settings, url: str) -> None:
    settings.LANGFUSE_HOST = url
    # The SDK keeps one client per public key for the life of the process: one key per test.
    settings.LANGFUSE_PUBLIC_KEY = f"pk-lf-{uuid.uuid4().hex[:8]}"
    settings.LANGFUSE_SECRET_KEY = "sk-lf-test"
    settings.LANGFUSE_TIMEOUT_S = 2


def attrs(span: dict) -> dict:
    return span["attributes"]


def metadata(span: dict, key: str):
    return json.loads(attrs(span)[f"langfuse.observation.metadata.{key}"])


async def test_each_completion_becomes_a_generation_in_langfuse(gateway, settings):
    with FakeLangfuse() as fake:
        use_langfuse(settings, fake.url)
        response = await gateway.complete(
            {"messages": [{"role": "user", "content": "trace me please"}]}, headers={"X-Request-ID": "req-lf-1"}
        )
        assert response.status_code == 200
        body = response.json()
        cached = await gateway.complete({"messages": [{"role": "user", "content": "trace me please"}]})
        assert cached["X-Cache"] == "HIT"
        assert tracing_flush()
        spans = fake.wait_for_spans(2)

    assert len(spans) == 2
    assert all(r["path"] == OTLP_PATH for r in fake.requests)
    assert fake.requests[0]["headers"]["x-langfuse-public-key"] == settings.LANGFUSE_PUBLIC_KEY
    span = next(s for s in spans if metadata(s, "request_id") == "req-lf-1")
    a = attrs(span)
    assert span["name"] == "completion"
    assert a["langfuse.observation.type"] == "generation"
    assert a["langfuse.observation.model.name"] == body["model"]
    assert json.loads(a["langfuse.observation.usage_details"]) == {
        "input": body["usage"]["prompt_tokens"],
        "output": body["usage"]["completion_tokens"],
        "total": body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"],
        "input_cached_tokens": 0,
    }
    assert json.loads(a["langfuse.observation.cost_details"])["total"] == pytest.approx(body["cost_estimate"])
    assert metadata(span, "provider") == "openai"
    assert metadata(span, "api_key") == "routing-tests"
    assert a["user.id"] == "routing-tests"
    assert metadata(span, "cache") == "miss"
    assert metadata(span, "attempts") == 1
    # The span lasts as long as the completion did.
    assert (span["end_ns"] - span["start_ns"]) / 1e6 == pytest.approx(metadata(span, "latency_ms"), abs=1)
    # Prompts and outputs stay out unless LOG_PROMPTS.
    assert "langfuse.observation.input" not in a and "langfuse.observation.output" not in a
    assert "trace me please" not in json.dumps(spans)
    hit = next(s for s in spans if s is not span)
    assert metadata(hit, "cache") == "hit"


async def test_prompt_and_output_are_sent_only_with_log_prompts(gateway, settings):
    settings.LOG_PROMPTS = True
    with FakeLangfuse() as fake:
        use_langfuse(settings, fake.url)
        response = await gateway.complete({"messages": [{"role": "user", "content": "show the prompt"}]})
        assert tracing_flush()
        [span] = fake.wait_for_spans(1)
    assert json.loads(attrs(span)["langfuse.observation.input"]) == [{"role": "user", "content": "show the prompt"}]
    assert attrs(span)["langfuse.observation.output"] == response.json()["content"]


async def test_a_stream_is_traced_with_its_time_to_first_token(gateway, settings):
    with FakeLangfuse() as fake:
        use_langfuse(settings, fake.url)
        response = await gateway.complete({"stream": True})
        b"".join([part async for part in response.streaming_content])
        assert tracing_flush()
        [span] = fake.wait_for_spans(1)
    assert metadata(span, "streamed") is True
    assert metadata(span, "ttft_ms") > 0
    assert "langfuse.observation.completion_start_time" in attrs(span)


async def test_a_hanging_langfuse_does_not_slow_completions(gateway, settings):
    async def timed_completions(n: int) -> list[float]:
        durations = []
        for i in range(n):
            started = time.monotonic()
            response = await gateway.complete({"messages": [{"role": "user", "content": f"quick {i}"}]})
            durations.append(time.monotonic() - started)
            assert response.status_code == 200
        return durations

    baseline = await timed_completions(3)
    with FakeLangfuse(delay_s=10) as hanging:  # takes the export, answers long after the SDK's timeout
        use_langfuse(settings, hanging.url)
        settings.LANGFUSE_TIMEOUT_S = 4
        await timed_completions(1)
        # Push that trace out now (in the background: the flush waits for the hanging endpoint).
        flusher = threading.Thread(target=tracing_flush, daemon=True)
        flusher.start()
        deadline = time.monotonic() + 10
        while not hanging.requests and time.monotonic() < deadline:  # noqa: ASYNC110 - another thread
            await asyncio.sleep(0.02)
        assert hanging.requests, "the tracer never tried to export"
        stuck_since = time.monotonic()
        durations = await timed_completions(5)
        # Every one of them ran while the export was stuck.
        assert time.monotonic() - stuck_since < settings.LANGFUSE_TIMEOUT_S
        assert not hanging.spans
        settings.LANGFUSE_HOST = ""
    flusher.join(timeout=20)  # the exporter gives up while the test still owns the log streams
    # Had any of them waited for the export, it would have taken the SDK's 4 s timeout.
    assert max(durations) < min(3.0, max(baseline) + 1.5)


async def test_an_unreachable_langfuse_fails_no_request(gateway, settings):
    import socket

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    use_langfuse(settings, f"http://127.0.0.1:{port}")
    response = await gateway.complete({"messages": [{"role": "user", "content": "nobody listens"}]})
    assert response.status_code == 200
    assert tracing_flush(timeout_s=5)  # handed to the SDK, whose export fails quietly
    settings.LANGFUSE_HOST = ""
