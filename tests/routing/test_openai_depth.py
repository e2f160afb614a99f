"""/v1/chat/completions as agents and apps use it: tools, structured output, images and reasoning,
through the official `openai` SDK against a live gateway whose providers are the emulator.

Each provider is reached by a model only it serves; the upstream body the emulator received is
checked against the shape of the provider's reference fixture.
"""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest
from pydantic import BaseModel

pytestmark = pytest.mark.django_db(transaction=True)

# provider name in the catalogue -> a model only that provider serves
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "google": "gemini-2.5-flash",
    "deepseek": "deepseek-chat",
}
REASONING_MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "google": "gemini-2.5-flash",
    "deepseek": "deepseek-reasoner",
}

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
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "The current weather in a city.",
            "parameters": WEATHER_SCHEMA,
        },
    },
    {
        "type": "function",
        "function": {"name": "get_local_time", "description": "The local time.", "parameters": TIME_SCHEMA},
    },
]
SCHEMAS = {"get_current_weather": WEATHER_SCHEMA, "get_local_time": TIME_SCHEMA}
BOTH_TOOLS = "Call get_current_weather and get_local_time for Paris, please."
PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def sdk(gateway, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.api_key, max_retries=0, **options)


def upstream(gateway, provider: str) -> dict:
    """The body of the last request `provider` received from the gateway."""
    return gateway.emulator.emulator.requests(provider)[-1]["body"]


def assert_valid_calls(calls, names: list[str]) -> None:
    assert [call.function.name for call in calls] == names
    assert len({call.id for call in calls}) == len(calls) and all(call.id for call in calls)
    for call in calls:
        assert call.type == "function"
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def followup(first_message, calls) -> list[dict]:
    """The client's second turn: the assistant turn replayed as the SDK returned it, then one result
    per call (the way OpenAI's docs and every agent framework build it)."""
    messages = [
        {"role": "user", "content": BOTH_TOOLS},
        first_message.model_dump(exclude_none=True, exclude={"reasoning_content", "refusal", "annotations"}),
    ]
    results = {"get_current_weather": '{"temperature": 18}', "get_local_time": '"11:00"'}
    messages += [
        {"role": "tool", "tool_call_id": call.id, "content": results[call.function.name]} for call in calls
    ]
    return messages


# --------------------------------------------------------------------------------- tools


@pytest.mark.parametrize("provider", list(MODELS))
def test_two_turn_tool_loop_with_parallel_calls(live_gateway, provider):
    client = sdk(live_gateway)
    first = client.chat.completions.with_raw_response.create(
        model=MODELS[provider], messages=[{"role": "user", "content": BOTH_TOOLS}], tools=TOOLS
    )
    assert first.headers["x-provider"].startswith(provider)
    completion = first.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert_valid_calls(choice.message.tool_calls, ["get_current_weather", "get_local_time"])

    declared = upstream(live_gateway, provider)
    if provider == "anthropic":
        assert [t["name"] for t in declared["tools"]] == ["get_current_weather", "get_local_time"]
        assert declared["tools"][0]["input_schema"] == WEATHER_SCHEMA
    elif provider == "google":
        functions = declared["tools"][0]["functionDeclarations"]
        assert [f["name"] for f in functions] == ["get_current_weather", "get_local_time"]
        assert functions[0]["parametersJsonSchema"] == WEATHER_SCHEMA
    else:
        assert declared["tools"] == TOOLS

    second = client.chat.completions.create(
        model=MODELS[provider], messages=followup(choice.message, choice.message.tool_calls), tools=TOOLS
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content.startswith("Emulated reply to tool results:")
    assert "18" in second.choices[0].message.content

    body = upstream(live_gateway, provider)
    ids = [call.id for call in choice.message.tool_calls]
    if provider == "anthropic":
        assistant, results = body["messages"][1], body["messages"][2]
        assert [b["type"] for b in assistant["content"]] == ["tool_use", "tool_use"]
        assert [b["id"] for b in assistant["content"]] == ids
        assert [b["type"] for b in results["content"]] == ["tool_result", "tool_result"]
        assert [b["tool_use_id"] for b in results["content"]] == ids
    elif provider == "google":
        model_turn, results = body["contents"][1], body["contents"][2]
        assert model_turn["role"] == "model" and "thoughtSignature" in model_turn["parts"][0]
        responses = [p["functionResponse"] for p in results["parts"]]
        assert [r["name"] for r in responses] == ["get_current_weather", "get_local_time"]
        assert responses[0]["response"] == {"output": {"temperature": 18}}
    else:
        assert body["messages"][1]["content"] is None
        assert [c["id"] for c in body["messages"][1]["tool_calls"]] == ids
        assert [(m["role"], m["tool_call_id"]) for m in body["messages"][2:]] == [("tool", i) for i in ids]


@pytest.mark.parametrize("provider", list(MODELS))
def test_streamed_tool_calls_arrive_as_openai_deltas(live_gateway, provider):
    client = sdk(live_gateway)
    with client.chat.completions.stream(
        model=MODELS[provider],
        messages=[{"role": "user", "content": BOTH_TOOLS}],
        tools=TOOLS,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = []
        for event in stream:
            if event.type == "chunk":
                chunks.append(event.chunk)
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    assert_valid_calls(final.choices[0].message.tool_calls, ["get_current_weather", "get_local_time"])
    pieces = [
        item for c in chunks if c.choices for item in (c.choices[0].delta.tool_calls or [])
    ]
    assert {p.index for p in pieces} == {0, 1}
    firsts = [p for p in pieces if p.id]
    assert [p.function.name for p in firsts] == ["get_current_weather", "get_local_time"]
    assert final.usage is not None and final.usage.completion_tokens > 0


def test_streamed_second_turn_answers_from_the_results(live_gateway):
    client = sdk(live_gateway)
    first = client.chat.completions.create(
        model=MODELS["anthropic"], messages=[{"role": "user", "content": BOTH_TOOLS}], tools=TOOLS
    )
    message = first.choices[0].message
    stream = client.chat.completions.create(
        model=MODELS["anthropic"], messages=followup(message, message.tool_calls), tools=TOOLS, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("Emulated reply to tool results:")


def test_named_tool_choice_forces_that_tool(live_gateway):
    completion = sdk(live_gateway).chat.completions.create(
        model=MODELS["google"],
        messages=[{"role": "user", "content": BOTH_TOOLS}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_local_time"}},
    )
    assert_valid_calls(completion.choices[0].message.tool_calls, ["get_local_time"])
    config = upstream(live_gateway, "google")["toolConfig"]["functionCallingConfig"]
    assert config == {"mode": "ANY", "allowedFunctionNames": ["get_local_time"]}


def test_tool_request_fails_over_and_keeps_openai_shaped_calls(live_gateway):
    live_gateway.fault("openai", "status:503")
    response = sdk(live_gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": BOTH_TOOLS}], tools=TOOLS
    )
    assert response.headers["x-provider"].startswith("anthropic")
    assert int(response.headers["x-attempts"]) >= 2
    completion = response.parse()
    assert completion.choices[0].finish_reason == "tool_calls"
    assert_valid_calls(completion.choices[0].message.tool_calls, ["get_current_weather", "get_local_time"])


def test_image_request_fails_over_to_a_provider_that_can_see(live_gateway):
    live_gateway.fault("openai", "status:503")
    response = sdk(live_gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
                ],
            }
        ],
    )
    # gpt-4o-mini's fallbacks are claude-haiku-4-5, gemini-2.5-flash and deepseek-chat; the emulated
    # Anthropic answers after OpenAI's failure.
    assert response.headers["x-provider"].startswith("anthropic")
    assert response.parse().choices[0].message.content.endswith("[saw 1 image]")


# --------------------------------------------------------------------------- structured output


class Weather(BaseModel):
    city: str
    temperature_c: int
    conditions: list[str]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_parse_with_a_pydantic_model(live_gateway, provider):
    completion = sdk(live_gateway).chat.completions.parse(
        model=MODELS[provider],
        messages=[{"role": "user", "content": "The weather in Paris, as JSON."}],
        response_format=Weather,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Weather)
    body = upstream(live_gateway, provider)
    if provider == "anthropic":
        assert body["output_config"]["format"]["type"] == "json_schema"
        assert set(body["output_config"]["format"]["schema"]["properties"]) == {"city", "temperature_c", "conditions"}
    elif provider == "google":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert body["generationConfig"]["responseJsonSchema"]["required"] == ["city", "temperature_c", "conditions"]
    else:
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["strict"] is True


def test_json_schema_is_never_sent_to_deepseek(live_gateway):
    """DeepSeek has JSON mode only: a json_schema request for deepseek-chat goes to a fallback
    model that honours it, and pinned to DeepSeek it is a 400 naming the parameter."""
    client = sdk(live_gateway)
    response = client.chat.completions.with_raw_response.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "JSON please"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": Weather.model_json_schema()},
        },
    )
    assert not response.headers["x-provider"].startswith("deepseek")
    assert live_gateway.calls("deepseek") == 0
    Weather.model_validate_json(response.parse().choices[0].message.content)

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="deepseek/deepseek-chat",
            messages=[{"role": "user", "content": "JSON please"}],
            response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        )
    assert caught.value.code == "unsupported_parameter"
    assert caught.value.param == "response_format.json_schema"
    assert "response_format.json_schema" in caught.value.message
    assert live_gateway.calls("deepseek") == 0


def test_json_object_mode_on_deepseek(live_gateway):
    completion = sdk(live_gateway).chat.completions.create(
        model="deepseek-chat",
        messages=[{"role": "user", "content": "Answer in json."}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)
    assert upstream(live_gateway, "deepseek")["response_format"] == {"type": "json_object"}


# -------------------------------------------------------------------------------------- images


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_image_question(live_gateway, provider):
    completion = sdk(live_gateway).chat.completions.create(
        model=MODELS[provider],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": PNG_DATA_URL, "detail": "low"}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content.endswith("[saw 1 image]")
    body = upstream(live_gateway, provider)
    data = PNG_DATA_URL.split(",", 1)[1]
    if provider == "anthropic":
        image = body["messages"][0]["content"][1]
        assert image == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    elif provider == "google":
        assert body["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": data}}
    else:
        assert body["messages"][0]["content"][1] == {
            "type": "image_url",
            "image_url": {"url": PNG_DATA_URL, "detail": "low"},
        }


def test_a_model_that_cannot_see_is_not_a_candidate(live_gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(live_gateway).chat.completions.create(
            model="deepseek/deepseek-chat",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG_DATA_URL}}]}],
        )
    assert caught.value.code == "unsupported_parameter"
    assert caught.value.param == "image_url"
    assert live_gateway.calls("deepseek") == 0


# ------------------------------------------------------------------------------------ reasoning


@pytest.mark.parametrize("provider", list(REASONING_MODELS))
def test_reasoning_text_comes_back_as_reasoning_content(live_gateway, provider):
    completion = sdk(live_gateway).chat.completions.create(
        model=REASONING_MODELS[provider],
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
        reasoning_effort="high",
    )
    message = completion.choices[0].message
    assert "Why is the sky blue?" in message.content
    assert message.model_extra["reasoning_content"]
    assert message.model_extra["reasoning_content"] not in message.content
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0
    body = upstream(live_gateway, provider)
    if provider == "anthropic":
        assert body["thinking"] == {"type": "adaptive"}
        assert body["output_config"]["effort"] == "high"
    elif provider == "google":
        assert body["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    else:
        assert body["thinking"] == {"type": "enabled"}


def test_openai_reasoning_effort_is_passed_on(live_gateway):
    completion = sdk(live_gateway).chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Think hard."}], reasoning_effort="low"
    )
    assert upstream(live_gateway, "openai")["reasoning_effort"] == "low"
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0


def test_streamed_reasoning_arrives_as_reasoning_content_deltas(live_gateway):
    stream = sdk(live_gateway).chat.completions.create(
        model="claude-sonnet-4-6",
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
        reasoning_effort="medium",
        stream=True,
    )
    chunks = [c for c in stream if c.choices]
    thought = "".join(c.choices[0].delta.model_extra.get("reasoning_content") or "" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert thought and "Why is the sky blue?" in text and thought not in text


@pytest.mark.parametrize("provider", list(REASONING_MODELS))
def test_thinking_tool_loop_replays_what_the_provider_needs(live_gateway, provider):
    """Anthropic needs its signed thinking blocks, Gemini its thought signatures and DeepSeek its
    reasoning_content back on the next turn; the OpenAI-format client sends none of them, so the
    gateway keeps them by tool-call id (the emulator refuses a turn that lacks them)."""
    client = sdk(live_gateway)
    first = client.chat.completions.create(
        model=REASONING_MODELS[provider],
        messages=[{"role": "user", "content": BOTH_TOOLS}],
        tools=TOOLS,
        reasoning_effort="high",
    )
    message = first.choices[0].message
    assert message.tool_calls
    second = client.chat.completions.create(
        model=REASONING_MODELS[provider],
        messages=followup(message, message.tool_calls),
        tools=TOOLS,
        reasoning_effort="high",
    )
    assert second.choices[0].message.content.startswith("Emulated reply to tool results:")
    body = upstream(live_gateway, provider)
    if provider == "anthropic":
        replayed = body["messages"][1]["content"]
        assert replayed[0]["type"] == "thinking" and replayed[0]["signature"]
        assert [b["type"] for b in replayed[1:]] == ["tool_use", "tool_use"]
    elif provider == "google":
        assert body["contents"][1]["parts"][0]["thoughtSignature"]
    else:
        assert body["messages"][1]["reasoning_content"]


# --------------------------------------------------------------------------------- parameters


def test_an_unsupported_parameter_is_a_400_unless_dropping_is_asked_for(live_gateway):
    client = sdk(live_gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="anthropic/claude-haiku-4-5", messages=[{"role": "user", "content": "Hi"}], seed=7
        )
    assert (caught.value.code, caught.value.param) == ("unsupported_parameter", "seed")
    assert "seed" in caught.value.message and "X-Drop-Params" in caught.value.message
    assert live_gateway.calls("anthropic") == 0

    response = client.chat.completions.with_raw_response.create(
        model="anthropic/claude-haiku-4-5",
        messages=[{"role": "user", "content": "Hi"}],
        seed=7,
        logprobs=True,
        extra_headers={"X-Drop-Params": "true"},
    )
    assert response.headers["x-dropped-params"] == "logprobs, seed"
    assert response.parse().choices[0].message.content.startswith("Emulated reply to:")
    assert not {"seed", "logprobs"} & set(upstream(live_gateway, "anthropic"))


def test_a_parameter_one_provider_lacks_goes_to_one_that_has_it(live_gateway):
    """claude-haiku-4-5's fallbacks include gpt-4o-mini, which honours seed and logprobs."""
    response = sdk(live_gateway).chat.completions.with_raw_response.create(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": "Hi"}],
        seed=7,
        logprobs=True,
        top_logprobs=2,
    )
    assert response.headers["x-provider"].startswith("openai")
    body = upstream(live_gateway, "openai")
    assert (body["seed"], body["logprobs"], body["top_logprobs"]) == (7, True, 2)
    assert response.parse().choices[0].logprobs.content
    assert live_gateway.calls("anthropic") == 0


def test_openai_options_reach_openai(live_gateway):
    completion = sdk(live_gateway).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hi"}],
        n=2,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        metadata={"team": "search"},
        service_tier="flex",
        max_completion_tokens=50,
        user="u-1",
    )
    assert [c.index for c in completion.choices] == [0, 1]
    body = upstream(live_gateway, "openai")
    assert body["n"] == 2 and body["presence_penalty"] == 0.5 and body["frequency_penalty"] == 0.25
    assert body["metadata"] == {"team": "search"} and body["service_tier"] == "flex"
    assert body["max_completion_tokens"] == 50 and body["user"] == "u-1"


def test_an_unknown_field_is_a_400(live_gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(live_gateway).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], extra_body={"temprature": 1}
        )
    assert (caught.value.code, caught.value.param) == ("unknown_parameter", "temprature")
    assert "temprature" in caught.value.message


# ----------------------------------------------------------------------------- provider controls


def test_provider_slash_model_pins_the_provider(live_gateway):
    live_gateway.fault("anthropic", "status:503")
    with pytest.raises(openai.InternalServerError):
        sdk(live_gateway).chat.completions.create(
            model="anthropic/claude-haiku-4-5", messages=[{"role": "user", "content": "Hi"}]
        )
    assert live_gateway.calls("openai") == 0


def test_provider_object_only_ignore_and_order(live_gateway):
    client = sdk(live_gateway)
    only = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"provider": {"only": ["google"]}},
    )
    assert only.headers["x-provider"].startswith("google")
    ignored = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hi again"}],
        extra_body={"provider": {"ignore": ["openai", "anthropic"]}},
    )
    assert ignored.headers["x-provider"].startswith("google")
    live_gateway.fault("openai", "status:503")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "No fallbacks"}],
            extra_body={"provider": {"allow_fallbacks": False}},
        )
    assert live_gateway.calls("anthropic") == 0
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Hi"}],
            extra_body={"provider": {"order": ["nowhere"]}},
        )
    assert caught.value.code == "provider_not_found"


def test_the_cache_key_covers_tools_and_format(live_gateway):
    client = sdk(live_gateway)
    messages = [{"role": "user", "content": "Same words, get_local_time"}]
    plain = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    with_tools = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, tools=TOOLS
    )
    assert (plain.headers["x-cache"], with_tools.headers["x-cache"]) == ("MISS", "MISS")
    assert with_tools.parse().choices[0].message.tool_calls
    again = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    assert again.headers["x-cache"] == "HIT"
    assert again.parse().choices[0].message.tool_calls[0].id == with_tools.parse().choices[0].message.tool_calls[0].id
    as_json = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, response_format={"type": "json_object"}
    )
    assert as_json.headers["x-cache"] == "MISS"
