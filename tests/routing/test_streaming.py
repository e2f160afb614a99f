"""Streaming completions: Server-Sent Events, failover before the first chunk, errors mid-stream."""

import json

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def read_events(response) -> list[tuple[str, dict | str]]:
    raw = b"".join([part async for part in response.streaming_content]).decode()
    events = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        name = "message"
        data = ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        events.append((name, data if data == "[DONE]" else json.loads(data)))
    return events


async def test_stream_delivers_chunks_in_order_then_usage_and_cost(gateway):
    response = await gateway.complete(
        {"stream": True, "messages": [{"role": "user", "content": "Stream me"}]}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["X-Provider"] == "openai (emulator)"
    events = await read_events(response)
    pieces = [data["content"] for name, data in events if name == "message" and "content" in data]
    assert len(pieces) > 1
    assert "Stream me" in "".join(pieces)
    done = events[-1][1]
    assert done["done"] is True
    assert done["usage"]["completion_tokens"] > 0 and done["usage"]["prompt_tokens"] > 0
    assert done["cost_estimate"] > 0
    [record] = await gateway.records()
    assert record.streamed and record.status == "success"
    assert record.completion_tokens == done["usage"]["completion_tokens"]


@pytest.mark.parametrize("fault", ["status:500", "drop", "rate_limit:20"])
async def test_failure_before_the_first_chunk_fails_over(gateway, fault):
    gateway.fault("openai", fault)
    response = await gateway.complete({"stream": True})
    assert response.status_code == 200
    assert response["X-Provider"] != "openai (emulator)"
    events = await read_events(response)
    assert events[-1][1]["done"] is True
    assert gateway.calls("openai") >= 1


async def test_failure_mid_stream_ends_with_an_error_event_in_the_envelope(gateway):
    gateway.fault("openai", "stream_error")
    response = await gateway.complete({"stream": True})
    assert response.status_code == 200
    events = await read_events(response)
    name, error = events[-1]
    assert name == "error"
    assert {"error", "error_code", "timestamp", "request_id", "context"} <= set(error)
    assert error["error_code"] == "PROVIDER_STREAM_FAILED"
    assert error["request_id"] == response["X-Request-ID"]
    [record] = await gateway.records()
    assert record.status == "error" and record.streamed


async def test_stream_cut_before_its_end_is_an_error_event(gateway):
    gateway.fault("openai", "cut:2")
    response = await gateway.complete({"stream": True})
    events = await read_events(response)
    assert events[-1][0] == "error"


async def test_every_provider_failing_before_the_first_chunk_is_a_503(gateway):
    for name in ("openai", "anthropic", "google", "deepseek"):
        gateway.fault(name, "status:503")
    response = await gateway.complete({"stream": True})
    assert response.status_code == 503
    assert response.json()["error_code"] == "PROVIDER_UNAVAILABLE"


def test_client_disconnect_cancels_the_upstream_call(live_gateway):
    import time

    import httpx

    from analytics.models import UsageRecord
    from analytics.services import usage_flush

    live_gateway.fault("openai", "pace:200")  # a slow generation: one event every 200 ms
    with httpx.Client(base_url=live_gateway.url, timeout=10) as client:
        with client.stream(
            "POST",
            "/api/v1/completion",
            json={"messages": [{"role": "user", "content": "a long story please"}], "stream": True},
            headers={"Authorization": f"Bearer {live_gateway.api_key}"},
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))
        # Leaving the block closes the connection mid-stream.
    deadline = time.monotonic() + 5
    while live_gateway.emulator.emulator.aborted_streams("openai") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_gateway.emulator.emulator.aborted_streams("openai") == 1
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        usage_flush()
        records = list(UsageRecord.objects.all())
        if records:
            break
        time.sleep(0.05)
    assert [(r.status, r.error_code, r.streamed) for r in records] == [("error", "CLIENT_DISCONNECTED", True)]
