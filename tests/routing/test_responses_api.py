"""/v1/responses through the official `openai` SDK against a live gateway whose providers are the
emulator: plain, streamed (the SDK's `responses.stream` helper), function-tool loops and structured
output, answered by OpenAI and, through translation, by Anthropic and Gemini. Every body and event
is also validated against the SDK's own Responses types."""

from __future__ import annotations

import json

import httpx2
import jsonschema
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from analytics.models import UsageRecord
from analytics.services import usage_flush

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "google": "gemini-2.5-flash"}
REASONING_MODELS = {"anthropic": "claude-sonnet-4-6", "google": "gemini-2.5-flash"}

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
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
        "type": "function",
        "name": "get_current_weather",
        "description": "The current weather in a city.",
        "parameters": WEATHER_SCHEMA,
        "strict": True,
    },
    {
        "type": "function",
        "name": "get_local_time",
        "description": "The local time.",
        "parameters": TIME_SCHEMA,
        "strict": True,
    },
]
SCHEMAS = {"get_current_weather": WEATHER_SCHEMA, "get_local_time": TIME_SCHEMA}
BOTH_TOOLS = "Call get_current_weather and get_local_time for Paris, please."
RESULTS = {"get_current_weather": '{"temperature": 18}', "get_local_time": '"11:00"'}

EVENTS = TypeAdapter(ResponseStreamEvent)


class Weather(BaseModel):
    city: str
    temperature_c: float
    sunny: bool


def sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.api_key, max_retries=0)


def upstream(gateway, provider: str) -> dict:
    return gateway.emulator.emulator.requests(provider)[-1]["body"]


def records() -> list[UsageRecord]:
    usage_flush()
    return list(UsageRecord.objects.order_by("created_at"))


def raw_events(gateway, body: dict) -> list[dict]:
    """The SSE events of a streamed /v1/responses call, as sent (event name checked against type)."""
    with httpx2.Client(timeout=30) as http:
        response = http.post(
            f"{gateway.url}/v1/responses",
            json={**body, "stream": True},
            headers={"Authorization": f"Bearer {gateway.api_key}"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        event = json.loads(lines["data"])
        assert lines["event"] == event["type"]
        events.append(event)
    return events


def assert_valid_events(events: list[dict]) -> None:
    for event in events:
        EVENTS.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] in ("response.completed", "response.incomplete", "response.failed")


# ------------------------------------------------------------------------------------ plain


@pytest.mark.parametrize("provider", list(MODELS))
def test_plain_response(live_gateway, provider):
    raw = sdk(live_gateway).responses.with_raw_response.create(
        model=MODELS[provider], input="Say hello to the Responses API", instructions="Be brief."
    )
    assert raw.headers["x-provider"].startswith(provider)
    Response.model_validate(raw.http_response.json())  # strict: every field as the SDK types it
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_")
    assert "Say hello to the Responses API" in response.output_text
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert message.content[0].type == "output_text"
    assert response.instructions == "Be brief."
    usage = response.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens

    sent = upstream(live_gateway, provider)
    if provider == "anthropic":
        assert sent["system"] == "Be brief."
    elif provider == "google":
        assert sent["systemInstruction"]["parts"][0]["text"] == "Be brief."
    else:
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}

    [record] = records()
    assert record.status == "success" and record.provider == provider and record.model == MODELS[provider]
    assert record.prompt_tokens == usage.input_tokens and record.completion_tokens == usage.output_tokens
    assert record.cost_usd > 0


def test_input_items_with_images_and_a_developer_message(live_gateway):
    png = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
        "hKmMIQAAAABJRU5ErkJggg=="
    )
    response = sdk(live_gateway).responses.create(
        model="claude-haiku-4-5",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this picture?"},
                    {"type": "input_image", "image_url": png, "detail": "auto"},
                ],
            },
        ],
    )
    assert response.output_text.endswith("[saw 1 image]")
    assert upstream(live_gateway, "anthropic")["messages"][0]["content"][1]["type"] == "image"


def test_max_output_tokens_makes_an_incomplete_response(live_gateway):
    response = sdk(live_gateway).responses.create(
        model="gpt-4o-mini", input="Tell me a long story about many things at once", max_output_tokens=4
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert upstream(live_gateway, "openai")["max_completion_tokens"] == 4


# ------------------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("provider", list(MODELS))
def test_stream_helper_reassembles_the_text(live_gateway, provider):
    deltas = []
    with sdk(live_gateway).responses.stream(model=MODELS[provider], input="Stream to the helper") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
                assert event.snapshot == "".join(deltas)
        final = stream.get_final_response()
    assert len(deltas) > 1
    assert final.output_text == "".join(deltas)
    assert "Stream to the helper" in final.output_text
    assert final.status == "completed" and final.usage.output_tokens > 0
    [record] = records()
    assert record.streamed and record.status == "success" and record.provider == provider
    assert record.cost_usd > 0


def test_stream_events_are_the_responses_sequence(live_gateway):
    events = raw_events(live_gateway, {"model": "gpt-4o-mini", "input": "Check the event order"})
    assert_valid_events(events)
    kinds = [e["type"] for e in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    completed = events[-1]["response"]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert completed["output"][0]["content"][0]["text"] == text
    assert completed["usage"]["output_tokens"] > 0
    assert {e["response"]["id"] for e in events if "response" in e} == {completed["id"]}


@pytest.mark.parametrize("provider", list(MODELS))
def test_streamed_function_calls(live_gateway, provider):
    events = raw_events(live_gateway, {"model": MODELS[provider], "input": BOTH_TOOLS, "tools": TOOLS})
    assert_valid_events(events)
    assert any(e["type"] == "response.function_call_arguments.delta" for e in events)
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [item["name"] for item in done] == ["get_current_weather", "get_local_time"]
    for item in done:
        jsonschema.validate(json.loads(item["arguments"]), SCHEMAS[item["name"]])
        pieces = "".join(
            e["delta"]
            for e in events
            if e["type"] == "response.function_call_arguments.delta" and e["item_id"] == item["id"]
        )
        assert pieces == item["arguments"]

    with sdk(live_gateway).responses.stream(model=MODELS[provider], input=BOTH_TOOLS, tools=TOOLS) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["get_current_weather", "get_local_time"]
    assert all(call.call_id and call.status == "completed" for call in calls)


def test_streamed_reasoning_comes_as_a_reasoning_item(live_gateway):
    events = raw_events(
        live_gateway,
        {"model": "claude-sonnet-4-6", "input": "Why is the sky blue?", "reasoning": {"effort": "medium"}},
    )
    assert_valid_events(events)
    thought = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_text.delta")
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["content"][0]["text"] == thought and thought
    assert "Why is the sky blue?" in output[1]["content"][0]["text"]


def test_mid_stream_failure_is_an_error_event_then_response_failed(live_gateway):
    live_gateway.fault("openai", "stream_error")
    events = raw_events(live_gateway, {"model": "gpt-4o-mini", "input": "Fail in the middle"})
    assert_valid_events(events)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert "mid-stream" in events[-2]["message"]
    assert events[-1]["response"]["status"] == "failed"
    [record] = records()
    assert record.status == "error" and record.streamed


# ------------------------------------------------------------------------------------ tools


@pytest.mark.parametrize("provider", list(MODELS))
def test_function_tool_loop(live_gateway, provider):
    client = sdk(live_gateway)
    conversation: list = [{"role": "user", "content": BOTH_TOOLS}]
    first = client.responses.create(model=MODELS[provider], input=conversation, tools=TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [call.name for call in calls] == ["get_current_weather", "get_local_time"]
    for call in calls:
        jsonschema.validate(json.loads(call.arguments), SCHEMAS[call.name])
    # The loop as OpenAI documents it: the output items go back in, then one output per call.
    conversation += first.output
    conversation += [
        {"type": "function_call_output", "call_id": call.call_id, "output": RESULTS[call.name]} for call in calls
    ]
    second = client.responses.create(model=MODELS[provider], input=conversation, tools=TOOLS)
    assert second.output_text.startswith("Emulated reply to tool results:")
    assert "18" in second.output_text

    body = upstream(live_gateway, provider)
    ids = [call.call_id for call in calls]
    if provider == "anthropic":
        assistant, results = body["messages"][1], body["messages"][2]
        assert [b["id"] for b in assistant["content"] if b["type"] == "tool_use"] == ids
        assert [b["tool_use_id"] for b in results["content"]] == ids
    elif provider == "google":
        names = [p["functionResponse"]["name"] for p in body["contents"][2]["parts"]]
        assert names == ["get_current_weather", "get_local_time"]
    else:
        assert [c["id"] for c in body["messages"][1]["tool_calls"]] == ids
        assert [m["tool_call_id"] for m in body["messages"][2:]] == ids
    assert len(records()) == 2


def test_named_tool_choice_and_tool_declarations_upstream(live_gateway):
    response = sdk(live_gateway).responses.create(
        model="gpt-4o-mini",
        input="What time is it?",
        tools=TOOLS,
        tool_choice={"type": "function", "name": "get_current_weather"},
    )
    assert [item.name for item in response.output] == ["get_current_weather"]
    assert response.tool_choice.name == "get_current_weather"
    sent = upstream(live_gateway, "openai")
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_current_weather"}}
    assert sent["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "The current weather in a city.",
            "parameters": WEATHER_SCHEMA,
            "strict": True,
        },
    }


@pytest.mark.parametrize("provider", list(REASONING_MODELS))
def test_thinking_tool_loop_replays_what_the_provider_needs(live_gateway, provider):
    client = sdk(live_gateway)
    conversation: list = [{"role": "user", "content": BOTH_TOOLS}]
    first = client.responses.create(
        model=REASONING_MODELS[provider], input=conversation, tools=TOOLS, reasoning={"effort": "high"}
    )
    assert first.output[0].type == "reasoning"
    calls = [item for item in first.output if item.type == "function_call"]
    conversation += first.output
    conversation += [
        {"type": "function_call_output", "call_id": c.call_id, "output": RESULTS[c.name]} for c in calls
    ]
    second = client.responses.create(
        model=REASONING_MODELS[provider], input=conversation, tools=TOOLS, reasoning={"effort": "high"}
    )
    assert second.output_text.startswith("Emulated reply to tool results:")
    body = upstream(live_gateway, provider)
    if provider == "anthropic":
        replayed = body["messages"][1]["content"]
        assert replayed[0]["type"] == "thinking" and replayed[0]["signature"]
    else:
        assert body["contents"][1]["parts"][0]["thoughtSignature"]


# ------------------------------------------------------------------------------------ structured output


@pytest.mark.parametrize("provider", list(MODELS))
def test_structured_output_with_text_format(live_gateway, provider):
    response = sdk(live_gateway).responses.parse(
        model=MODELS[provider], input="The weather in Paris, as data.", text_format=Weather
    )
    assert isinstance(response.output_parsed, Weather)
    assert response.text.format.type == "json_schema" and response.text.format.name == "Weather"
    sent = upstream(live_gateway, provider)
    if provider == "anthropic":
        assert sent["output_config"]["format"]["type"] == "json_schema"
    elif provider == "google":
        assert sent["generationConfig"]["responseMimeType"] == "application/json"
    else:
        assert sent["response_format"]["type"] == "json_schema"
        assert sent["response_format"]["json_schema"]["name"] == "Weather"


def test_streamed_structured_output(live_gateway):
    with sdk(live_gateway).responses.stream(
        model="gemini-2.5-flash", input="The weather in Paris, as data.", text_format=Weather
    ) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Weather)


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"tools": [{"type": "computer_use_preview", "display_width": 1, "display_height": 1,
                     "environment": "browser"}]}, "tools[0].type"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ],
)
def test_what_the_gateway_does_not_do_is_a_clear_400(live_gateway, extra, param):
    body = {"model": "gpt-4o-mini", "input": "Hello", **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(live_gateway).responses.create(**body)
    assert caught.value.code == "unsupported_parameter"
    assert caught.value.param == param
    assert live_gateway.calls("openai") == 0
    assert records() == []


def test_store_false_is_accepted(live_gateway):
    response = sdk(live_gateway).responses.create(model="gpt-4o-mini", input="Hello", store=False)
    assert response.store is False and response.status == "completed"


def test_unknown_field_and_bad_input_are_400(live_gateway):
    client = sdk(live_gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o-mini", input="Hi", extra_body={"frobnicate": 1})
    assert caught.value.code == "unknown_parameter" and caught.value.param == "frobnicate"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="gpt-4o-mini",
            input=[{"type": "function_call_output", "call_id": "call_x", "output": "1"}, "x"],
        )
    assert caught.value.param.startswith("input[")


def test_budgets_and_keys_apply(live_gateway):
    bad = openai.OpenAI(base_url=f"{live_gateway.url}/v1", api_key="aip_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model="gpt-4o-mini", input="Hi")
    with pytest.raises(openai.NotFoundError):
        sdk(live_gateway).responses.create(model="no-such-model", input="Hi")
