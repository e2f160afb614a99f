"""/v1/messages and /v1/messages/count_tokens as Claude apps and coding agents use them, through the
official `anthropic` SDK against a live gateway whose providers are the emulator.

Each scenario is answered by Anthropic (the body passes through) and, through translation, by
OpenAI and Gemini (pinned with `provider/model`); the upstream body the emulator received is
checked against the provider's own shapes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import anthropic
import httpx
import jsonschema
import pytest
from asgiref.sync import async_to_sync

from providers.adapters.results import Usage
from providers.catalogue import catalogue_current

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "provider_formats" / "anthropic"

# provider -> a model pinned to it
PINNED = {
    "anthropic": "anthropic/claude-haiku-4-5",
    "openai": "openai/gpt-4o-mini",
    "google": "google/gemini-2.5-flash",
}
THINKING = {
    "anthropic": "anthropic/claude-sonnet-4-6",
    "openai": "openai/gpt-4.1-mini",
    "google": "google/gemini-2.5-flash",
}
PROVIDERS = list(PINNED)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
            "additionalProperties": False,
        },
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location", "unit"],
    "additionalProperties": False,
}
TIME_SCHEMA = {
    "type": "object",
    "properties": {"timezone": {"type": "string"}},
    "required": ["timezone"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "name": "get_current_weather",
        "description": "The current weather in a city.",
        "input_schema": WEATHER_SCHEMA,
    },
    {"name": "get_local_time", "description": "The local time.", "input_schema": TIME_SCHEMA},
]
SCHEMAS = {"get_current_weather": WEATHER_SCHEMA, "get_local_time": TIME_SCHEMA}
BOTH_TOOLS = "Call get_current_weather and get_local_time for Paris, please."
RESULTS = {"get_current_weather": '{"temperature": 18}', "get_local_time": '"11:00"'}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def sdk(gateway, **options) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=gateway.api_key, max_retries=0, **options)


def upstream(gateway, provider: str) -> dict:
    """The last request `provider` received from the gateway (path, headers, body)."""
    return gateway.emulator.emulator.requests(provider)[-1]


def assert_tool_uses(blocks, names: list[str]) -> list:
    uses = [b for b in blocks if b.type == "tool_use"]
    assert [b.name for b in uses] == names
    assert len({b.id for b in uses}) == len(uses) and all(b.id for b in uses)
    for block in uses:
        jsonschema.validate(block.input, SCHEMAS[block.name])
    return uses


def results_turn(uses) -> dict:
    return {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": b.id, "content": RESULTS[b.name]} for b in uses],
    }


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


# --------------------------------------------------------------------------------- plain


@pytest.mark.parametrize("provider", PROVIDERS)
def test_create(live_gateway, provider):
    raw = sdk(live_gateway).messages.with_raw_response.create(
        model=PINNED[provider],
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert raw.headers["x-provider"].startswith(provider)
    assert raw.headers["request-id"]
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text.startswith("Emulated reply to: What is the capital of France?")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0
    sent = upstream(live_gateway, provider)["body"]
    if provider == "anthropic":
        assert sent["system"] == "You are terse." and sent["model"] == "claude-haiku-4-5"
    elif provider == "google":
        assert sent["systemInstruction"]["parts"][0]["text"] == "You are terse."
    else:
        assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    (record,) = async_to_sync(live_gateway.records)()
    assert record.status == "success" and record.provider == provider
    assert record.prompt_tokens > 0 and record.completion_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_with_helpers(live_gateway, provider):
    with sdk(live_gateway).messages.stream(
        model=PINNED[provider],
        max_tokens=256,
        messages=[{"role": "user", "content": "Tell me about Paris in spring."}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("Emulated reply to: Tell me about Paris in spring.")
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_event_sequence(live_gateway, provider):
    events = list(
        sdk(live_gateway).messages.create(
            model=PINNED[provider],
            max_tokens=256,
            messages=[{"role": "user", "content": "Hello there"}],
            stream=True,
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds[1:4] == ["content_block_start", "content_block_delta", "content_block_delta"] or (
        "content_block_start" in kinds and "content_block_stop" in kinds
    )
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens > 0


# --------------------------------------------------------------------------------- tools


@pytest.mark.parametrize("provider", PROVIDERS)
def test_two_turn_tool_loop(live_gateway, provider):
    client = sdk(live_gateway)
    first = client.messages.create(
        model=PINNED[provider],
        max_tokens=512,
        tools=TOOLS,
        messages=[{"role": "user", "content": BOTH_TOOLS}],
    )
    assert first.stop_reason == "tool_use"
    uses = assert_tool_uses(first.content, ["get_current_weather", "get_local_time"])
    declared = upstream(live_gateway, provider)["body"]
    if provider == "anthropic":
        assert declared["tools"] == TOOLS
    elif provider == "google":
        functions = declared["tools"][0]["functionDeclarations"]
        assert [f["name"] for f in functions] == ["get_current_weather", "get_local_time"]
    else:
        assert declared["tools"][0]["function"]["parameters"] == WEATHER_SCHEMA

    second = client.messages.create(
        model=PINNED[provider],
        max_tokens=512,
        tools=TOOLS,
        messages=[{"role": "user", "content": BOTH_TOOLS}, first.to_param(), results_turn(uses)],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[-1].text.startswith("Emulated reply to tool results:")
    assert "18" in second.content[-1].text
    body = upstream(live_gateway, provider)["body"]
    ids = [b.id for b in uses]
    if provider == "google":
        assert body["contents"][1]["parts"][0]["thoughtSignature"]  # kept by the gateway for the client
    elif provider == "openai":
        assert [c["id"] for c in body["messages"][1]["tool_calls"]] == ids
        assert [(m["role"], m["tool_call_id"]) for m in body["messages"][2:]] == [("tool", i) for i in ids]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streamed_tool_input_is_reassembled(live_gateway, provider):
    with sdk(live_gateway).messages.stream(
        model=PINNED[provider],
        max_tokens=512,
        tools=TOOLS,
        messages=[{"role": "user", "content": BOTH_TOOLS}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds
    assert final.stop_reason == "tool_use"
    assert_tool_uses(final.content, ["get_current_weather", "get_local_time"])


# -------------------------------------------------------------------------------------- images


@pytest.mark.parametrize("provider", PROVIDERS)
def test_image(live_gateway, provider):
    message = sdk(live_gateway).messages.create(
        model=PINNED[provider],
        max_tokens=256,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    {"type": "text", "text": "What is in this picture?"},
                ],
            }
        ],
    )
    assert message.content[0].text.endswith("[saw 1 image]")
    body = upstream(live_gateway, provider)["body"]
    if provider == "anthropic":
        assert body["messages"][0]["content"][0]["source"]["data"] == PNG
    elif provider == "google":
        assert body["contents"][0]["parts"][0] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    else:
        assert body["messages"][0]["content"][0]["image_url"]["url"] == f"data:image/png;base64,{PNG}"


# ------------------------------------------------------------------------------------ thinking


@pytest.mark.parametrize("provider", PROVIDERS)
def test_thinking_tool_loop_replays_signatures(live_gateway, provider):
    """The client sends the thinking blocks back as it got them; Anthropic gets its signed blocks
    verbatim (the emulator verifies the signature), Gemini its thought signatures (kept by the
    gateway by tool-call id), OpenAI nothing it cannot take."""
    client = sdk(live_gateway)
    thinking = {"type": "adaptive"}
    first = client.messages.create(
        model=THINKING[provider],
        max_tokens=4096,
        thinking=thinking,
        tools=TOOLS,
        messages=[{"role": "user", "content": BOTH_TOOLS}],
    )
    uses = assert_tool_uses(first.content, ["get_current_weather", "get_local_time"])
    thoughts = [b for b in first.content if b.type == "thinking"]
    if provider == "anthropic":
        assert thoughts and thoughts[0].signature and thoughts[0].thinking
        assert upstream(live_gateway, provider)["body"]["thinking"] == thinking
    elif provider == "google":
        assert thoughts and thoughts[0].thinking and thoughts[0].signature == ""
    else:
        assert not thoughts  # OpenAI's Chat Completions shows no reasoning
        assert upstream(live_gateway, provider)["body"]["reasoning_effort"] == "high"
    second = client.messages.create(
        model=THINKING[provider],
        max_tokens=4096,
        thinking=thinking,
        tools=TOOLS,
        messages=[{"role": "user", "content": BOTH_TOOLS}, first.to_param(), results_turn(uses)],
    )
    assert second.content[-1].text.startswith("Emulated reply to tool results:")
    if provider == "anthropic":
        replayed = upstream(live_gateway, provider)["body"]["messages"][1]["content"]
        assert replayed[0] == {
            "type": "thinking",
            "thinking": thoughts[0].thinking,
            "signature": thoughts[0].signature,
        }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streamed_thinking_with_signature(live_gateway, provider):
    with sdk(live_gateway).messages.stream(
        model=THINKING[provider],
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    answer = final.content[-1]
    assert answer.type == "text" and "Why is the sky blue?" in answer.text
    if provider == "openai":  # reasoning tokens, no reasoning text on Chat Completions
        assert [b.type for b in final.content] == ["text"]
        assert upstream(live_gateway, provider)["body"]["reasoning_effort"] == "low"  # a 2,048 budget
        return
    assert "thinking" in kinds
    thought = final.content[0]
    assert thought.type == "thinking" and thought.thinking
    assert answer.type == "text" and "Why is the sky blue?" in answer.text
    if provider == "anthropic":
        assert "signature" in kinds and thought.signature
        assert upstream(live_gateway, provider)["body"]["thinking"] == {
            "type": "enabled",
            "budget_tokens": 2048,
        }


# --------------------------------------------------------------------------------- count_tokens


@pytest.mark.parametrize("provider", PROVIDERS)
def test_count_tokens(live_gateway, provider):
    client = sdk(live_gateway)
    request = {
        "model": PINNED[provider],
        "system": "You are a travel assistant.",
        "messages": [{"role": "user", "content": BOTH_TOOLS}],
        "tools": TOOLS,
    }
    raw = client.messages.with_raw_response.count_tokens(**request)
    count = raw.parse()
    assert count.input_tokens > 0
    if provider == "anthropic":
        assert raw.headers["x-token-count-source"] == "anthropic"
        assert count.model_extra["estimated"] is False
        sent = upstream(live_gateway, "anthropic")
        assert sent["path"] == "/v1/messages/count_tokens" and sent["body"]["tools"] == TOOLS
        created = client.messages.create(max_tokens=100, **request)
        usage = created.usage
        assert count.input_tokens == usage.input_tokens + usage.cache_read_input_tokens
    else:
        assert raw.headers["x-token-count-source"] == "estimate"
        assert count.model_extra["estimated"] is True
        assert live_gateway.calls(provider) == 0


def test_count_tokens_falls_back_to_the_estimate(live_gateway):
    live_gateway.fault("anthropic", "status:503")
    raw = sdk(live_gateway).messages.with_raw_response.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "x" * 400}]
    )
    assert raw.headers["x-token-count-source"] == "estimate"
    assert raw.parse().input_tokens == 100 + 4


# --------------------------------------------------------------------------------- failover


def test_failover_stream_is_a_valid_messages_stream(live_gateway):
    live_gateway.fault("anthropic", "status:503")
    with sdk(live_gateway).messages.stream(
        model="claude-haiku-4-5",
        max_tokens=512,
        tools=TOOLS,
        messages=[{"role": "user", "content": BOTH_TOOLS}],
    ) as stream:
        assert stream.response.headers["x-provider"].startswith("openai")
        assert int(stream.response.headers["x-attempts"]) >= 2
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert_tool_uses(final.content, ["get_current_weather", "get_local_time"])
    assert live_gateway.calls("anthropic") >= 1


def test_failover_create(live_gateway):
    live_gateway.fault("anthropic", "status:503")
    raw = sdk(live_gateway).messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=256, messages=[{"role": "user", "content": "Hello there"}]
    )
    assert raw.headers["x-provider"].startswith("openai")
    assert raw.parse().content[0].text.startswith("Emulated reply to: Hello there")


def test_a_failure_mid_stream_ends_with_an_anthropic_error_event(live_gateway):
    live_gateway.fault("anthropic", "stream_error")
    stream = sdk(live_gateway).messages.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        messages=[{"role": "user", "content": "Hello there"}],
        stream=True,
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        for _ in stream:
            pass
    assert caught.value.type == "overloaded_error"
    assert "mid-stream" in caught.value.api_message


# ---------------------------------------------------------------------------- pass-through


def test_anthropic_gets_the_body_unchanged(live_gateway):
    body = fixture("cache-request.json")
    body["model"] = "claude-sonnet-4-6"
    extra = {
        "metadata": {"user_id": "user-42"},
        "cache_control": {"type": "ephemeral"},
        "service_tier": "standard_only",
        "thinking": {"type": "adaptive", "display": "summarized"},
        "output_config": {"effort": "low"},
    }
    sdk(live_gateway).messages.create(
        **body, **extra, extra_headers={"anthropic-beta": "context-1m-2025-08-07"}
    )
    sent = upstream(live_gateway, "anthropic")
    assert sent["body"] == {**body, **extra}
    assert sent["headers"]["anthropic-beta"] == "context-1m-2025-08-07"


def test_server_tools_are_only_sent_to_anthropic(live_gateway):
    client = sdk(live_gateway)
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=256,
        tools=[web_search],
        messages=[{"role": "user", "content": "News?"}],
    )
    assert message.content[0].text.startswith("Emulated reply to: News?")
    assert upstream(live_gateway, "anthropic")["body"]["tools"] == [web_search]
    # gpt-4o-mini falls back to claude-haiku-4-5, which can take it; pinned to OpenAI it is a 400
    fallback = client.messages.with_raw_response.create(
        model="gpt-4o-mini",
        max_tokens=256,
        tools=[web_search],
        messages=[{"role": "user", "content": "News?"}],
    )
    assert fallback.headers["x-provider"].startswith("anthropic")
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="openai/gpt-4o-mini",
            max_tokens=256,
            tools=[web_search],
            messages=[{"role": "user", "content": "News?"}],
        )
    assert "tools.web_search_20250305" in caught.value.api_message
    assert caught.value.error_code == "unsupported_parameter"
    assert live_gateway.calls("openai") == 0


def test_prompt_caching_is_passed_through_recorded_and_priced(live_gateway):
    """cache_control reaches Anthropic as sent; the cache writes (5-minute and 1-hour) and reads it
    reports come back in Anthropic's usage and are recorded and priced each at its own price."""
    client = sdk(live_gateway)
    request = fixture("cache-request.json")
    live_gateway.emulator.emulator.replay("anthropic", fixture("cache-response.json"))
    written = client.messages.create(**request)
    assert upstream(live_gateway, "anthropic")["body"] == request
    assert written.usage.cache_creation_input_tokens == 3799
    assert (written.usage.input_tokens, written.usage.cache_read_input_tokens) == (31, 0)

    live_gateway.emulator.emulator.replay("anthropic", fixture("messages-response.json"))
    read = client.messages.create(**request, extra_headers={"Cache-Control": "no-cache"})
    assert (read.usage.input_tokens, read.usage.cache_read_input_tokens) == (21, 1824)

    first, second = async_to_sync(live_gateway.records)()
    assert (first.prompt_tokens, first.cache_write_tokens, first.cached_tokens) == (31 + 3799, 3799, 0)
    assert first.usage_details["cache_write_1h_tokens"] == 1187
    assert (second.prompt_tokens, second.cached_tokens) == (21 + 1824, 1824)
    (entry,) = async_to_sync(catalogue_current)().models_named("claude-sonnet-4-6")
    pricing = entry.pricing
    write_cost = pricing.cost(
        Usage(prompt_tokens=3830, completion_tokens=52, cache_write_tokens=3799, cache_write_1h_tokens=1187)
    )
    read_cost = pricing.cost(Usage(prompt_tokens=1845, completion_tokens=10, cached_tokens=1824))
    assert first.cost_usd == pytest.approx(write_cost, abs=Decimal("1e-9"))
    assert second.cost_usd == pytest.approx(read_cost, abs=Decimal("1e-9"))
    # each class at its own price: writes cost more than plain input, reads less
    assert write_cost > pricing.cost(Usage(prompt_tokens=3830, completion_tokens=52))
    assert read_cost < pricing.cost(Usage(prompt_tokens=1845, completion_tokens=10))


# ---------------------------------------------------------------------------------- model names


def test_model_names(live_gateway):
    client = sdk(live_gateway)
    snapshot = client.messages.with_raw_response.create(
        model="claude-haiku-4-5-20251001", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )
    assert snapshot.headers["x-provider"].startswith("anthropic")
    assert upstream(live_gateway, "anthropic")["body"]["model"] == "claude-haiku-4-5-20251001"
    client.messages.create(model="claude-haiku", max_tokens=64, messages=[{"role": "user", "content": "Hi"}])
    assert upstream(live_gateway, "anthropic")["body"]["model"] == "claude-haiku-4-5"
    translated = client.messages.with_raw_response.create(
        model="gemini-flash", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )
    assert translated.headers["x-provider"].startswith("google")
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="claude-nonexistent-9", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.type == "not_found_error" and "claude-nonexistent-9" in caught.value.api_message


# ---------------------------------------------------------------------------------- bad input


def _no_upstream_calls(gateway) -> None:
    assert sum(gateway.calls(p) for p in ("openai", "anthropic", "google", "deepseek")) == 0


def test_missing_max_tokens_is_a_400_in_anthropic_shape(live_gateway):
    response = httpx.post(
        f"{live_gateway.url}/v1/messages",
        headers={"x-api-key": live_gateway.api_key, "anthropic-version": "2023-06-01"},
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Hi"}]},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["request_id"] == response.headers["request-id"]
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "max_tokens: Field required"
    _no_upstream_calls(live_gateway)


@pytest.mark.parametrize(
    ("messages", "extra", "expected"),
    [
        (
            [{"role": "user", "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}]}],
            {},
            "messages.0.content.0.type",
        ),
        ([{"role": "user", "content": [{"type": "bogus", "text": "Hi"}]}], {}, "Input tag 'bogus'"),
        ([{"role": "system", "content": "Hi"}], {}, "messages.0.role"),
        ([{"role": "user", "content": [{"type": "text", "text": "Hi", "colour": "red"}]}], {}, "colour"),
        ([{"role": "user", "content": "Hi"}], {"extra_body": {"temprature": 1}}, "temprature"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "1"}],
                }
            ],
            {},
            "unexpected `tool_use_id`",
        ),
    ],
)
def test_bad_input_never_reaches_a_provider(live_gateway, messages, extra, expected):
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk(live_gateway).messages.create(model="claude-haiku-4-5", max_tokens=64, messages=messages, **extra)
    assert caught.value.type == "invalid_request_error"
    assert expected in caught.value.api_message
    assert caught.value.request_id
    _no_upstream_calls(live_gateway)


def test_auth_by_x_api_key_and_bearer(live_gateway):
    body = {"model": "gpt-4o-mini", "max_tokens": 32, "messages": [{"role": "user", "content": "Hi"}]}
    for headers in ({"x-api-key": live_gateway.api_key}, {"Authorization": f"Bearer {live_gateway.api_key}"}):
        response = httpx.post(f"{live_gateway.url}/v1/messages", headers=headers, json=body)
        assert response.status_code == 200, response.text
    with pytest.raises(anthropic.AuthenticationError) as caught:
        anthropic.Anthropic(base_url=live_gateway.url, api_key="aip_wrong", max_retries=0).messages.create(
            **body
        )
    assert caught.value.type == "authentication_error"


def test_sampling_parameters_pin_an_api_version_that_takes_them(live_gateway):
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "temperature": 0.2,
        "top_k": 5,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    headers = {"x-api-key": live_gateway.api_key, "anthropic-version": "2026-10-21"}
    response = httpx.post(f"{live_gateway.url}/v1/messages", headers=headers, json=body)
    assert response.status_code == 200, response.text
    sent = upstream(live_gateway, "anthropic")
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert (sent["body"]["temperature"], sent["body"]["top_k"]) == (0.2, 5)
    # top_k is Anthropic's alone: pinned elsewhere it is refused, or left out on request
    pinned = {**body, "model": "openai/gpt-4o-mini"}
    refused = httpx.post(f"{live_gateway.url}/v1/messages", headers=headers, json=pinned)
    assert (
        refused.status_code == 400
        and refused.json()["error"]["details"]["error_code"] == "unsupported_parameter"
    )
    dropped = httpx.post(
        f"{live_gateway.url}/v1/messages", headers={**headers, "X-Drop-Params": "true"}, json=pinned
    )
    assert dropped.status_code == 200 and dropped.headers["x-dropped-params"] == "top_k"
    assert "top_k" not in upstream(live_gateway, "openai")["body"]


def test_a_repeat_is_served_from_the_cache_as_anthropic_answered(live_gateway):
    client = sdk(live_gateway)
    request = {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Cache me"}],
    }
    first = client.messages.with_raw_response.create(**request)
    again = client.messages.with_raw_response.create(**request)
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")
    assert again.parse().to_dict() == first.parse().to_dict()
    assert first.parse().id.startswith("msg_emu")  # Anthropic's own answer, as it sent it
    assert live_gateway.calls("anthropic") == 1


def test_streams_are_recorded(live_gateway):
    with sdk(live_gateway).messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hello there"}]
    ) as stream:
        stream.until_done()
    (record,) = async_to_sync(live_gateway.records)()
    assert record.streamed and record.status == "success" and record.provider == "anthropic"
    assert record.prompt_tokens > 0 and record.completion_tokens > 0 and record.cost_usd > 0


def test_count_tokens_refuses_what_it_does_not_take(live_gateway):
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk(live_gateway).messages.count_tokens(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "Hi"}],
            extra_body={"max_tokens": 5},
        )
    assert "max_tokens" in caught.value.api_message
    _no_upstream_calls(live_gateway)
