"""The emulator's second batch: tool calls, structured output, images, reasoning/thinking, OpenAI options.

Every protocol is driven over loopback with the fixture request bodies, through the official SDKs
where they exist (`openai` for OpenAI and DeepSeek, `anthropic`) and httpx for Gemini. Answers
must parse in the SDK types and have the fixtures' shapes; the validation rules answer with each
provider's own 400.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from enum import StrEnum
from typing import Any

import anthropic
import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel

from providers.emulator.features import SIGNING_KEY

from .conftest import API_KEY, fixture_bytes, fixture_json

PARIS_WEATHER = {"location": {"city": "Paris", "country": "FR"}, "unit": "celsius"}
PARIS_TIME = {"timezone": "Europe/Paris"}
BOTH_TOOLS = "Use get_local_time and get_current_weather for Paris."


# ---------------------------------------------------------------- helpers


def expected_signature(label: str, payload: str) -> str:
    """The documented scheme, recomputed here: base64(HMAC-SHA256(key, label + "\\n" + payload))."""
    mac = hmac.new(SIGNING_KEY, f"{label}\n{payload}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def call_signature(name: str, args: Any) -> str:
    canonical = json.dumps({"name": name, "args": args}, sort_keys=True, separators=(",", ":"))
    return expected_signature("gemini-function-call", canonical)


def echo(text: str, prefix: str = "Emulated reply to:") -> str:
    """The emulator's echo: the prefix and the first eight words."""
    return " ".join(prefix.split() + text.split()[:8])


def openai_client(emulator, provider: str = "openai") -> openai.OpenAI:
    return openai.OpenAI(base_url=emulator.url_for(provider), api_key=API_KEY, max_retries=0)


def anthropic_client(emulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=emulator.url_for("anthropic"), api_key=API_KEY, max_retries=0)


def gemini(emulator, body: dict, model: str = "gemini-2.5-flash", *, stream: bool = False) -> httpx.Response:
    verb = "streamGenerateContent" if stream else "generateContent"
    return httpx.post(
        f"{emulator.url_for('gemini')}/models/{model}:{verb}",
        params={"alt": "sse"} if stream else {},
        json=body,
        headers={"x-goog-api-key": API_KEY},
        timeout=5,
    )


def sse_data(raw: bytes) -> list[Any]:
    """The JSON of every `data:` line (LF or CRLF framing; `[DONE]` kept as a string)."""
    out = []
    for block in raw.replace(b"\r\n", b"\n").decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                out.append(data if data == "[DONE]" else json.loads(data))
    return out


def tool_schema(body: dict, name: str) -> dict:
    """A declared tool's parameters from an OpenAI, Anthropic or Gemini request body."""
    for tool in body["tools"]:
        if "function" in tool and tool["function"]["name"] == name:
            return tool["function"]["parameters"]
        if tool.get("name") == name:
            return tool["input_schema"]
        for declaration in tool.get("functionDeclarations", []):
            if declaration["name"] == name:
                return declaration.get("parametersJsonSchema") or lower_types(declaration["parameters"])
    raise KeyError(name)


def lower_types(schema: Any) -> Any:
    """Gemini's upper-case `Schema` as JSON Schema, for jsonschema."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" else lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [lower_types(item) for item in schema]
    return schema


def with_user_text(body: dict, text: str) -> dict:
    """The body with its last user message's text replaced (any protocol)."""
    body = copy.deepcopy(body)
    if "contents" in body:
        body["contents"][-1]["parts"] = [{"text": text}]
    else:
        body["messages"][-1]["content"] = text
    return body


def deepseek_kwargs(body: dict) -> dict:
    """A DeepSeek fixture body as OpenAI SDK arguments (`thinking` goes in extra_body)."""
    body = copy.deepcopy(body)
    thinking = body.pop("thinking", None)
    return {**body, "extra_body": {"thinking": thinking}} if thinking else body


# ================================================================ OpenAI


def test_openai_tools_auto_calls_the_first_tool_when_the_text_names_none(emulator):
    body = fixture_json("openai/tools-request.json")

    completion = openai_client(emulator).chat.completions.create(**body)

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None and choice.message.role == "assistant"
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and len(call.id) == len("call_CBdATkcDu8Tq4iTh44Fx5Xvc")
    assert (call.type, call.function.name) == ("function", "get_current_weather")
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, tool_schema(body, "get_current_weather"))
    assert arguments == PARIS_WEATHER
    assert call.function.arguments == json.dumps(PARIS_WEATHER, separators=(",", ":"))  # compact, as OpenAI
    assert completion.usage.completion_tokens > 0


@pytest.mark.parametrize(
    ("parallel", "names"),
    [(True, ["get_current_weather", "get_local_time"]), (False, ["get_current_weather"])],
)
def test_openai_tools_named_in_the_text_are_called_in_declaration_order(emulator, parallel, names):
    body = {
        **with_user_text(fixture_json("openai/tools-request.json"), BOTH_TOOLS),
        "parallel_tool_calls": parallel,
    }

    message = openai_client(emulator).chat.completions.create(**body).choices[0].message

    assert [call.function.name for call in message.tool_calls] == names
    assert len({call.id for call in message.tool_calls}) == len(names)
    for call in message.tool_calls:
        jsonschema.validate(json.loads(call.function.arguments), tool_schema(body, call.function.name))


def test_openai_named_tool_choice_finishes_with_stop(emulator):
    body = fixture_json("openai/tools-request-forced.json")
    body = with_user_text(body, "What time is it? get_local_time please")  # the named tool wins anyway

    choice = openai_client(emulator).chat.completions.create(**body).choices[0]

    assert choice.finish_reason == "stop"  # OpenAI's trap after a named tool_choice
    assert [call.function.name for call in choice.message.tool_calls] == ["get_current_weather"]


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("none", None),
        ("required", ["get_current_weather"]),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_local_time"}}],
                },
            },
            ["get_local_time"],
        ),
    ],
)
def test_openai_tool_choice_modes(emulator, tool_choice, expected):
    body = {**fixture_json("openai/tools-request.json"), "tool_choice": tool_choice}

    choice = openai_client(emulator).chat.completions.create(**body).choices[0]

    if expected is None:
        assert choice.message.tool_calls is None
        assert choice.message.content == echo(
            "What's the weather in Paris right now, and what time is it there?"
        )
        assert choice.finish_reason == "stop"
    else:
        assert [call.function.name for call in choice.message.tool_calls] == expected
        assert choice.finish_reason == "tool_calls"


def test_openai_tool_call_stream_has_the_fixture_shape(emulator):
    body = {
        **with_user_text(fixture_json("openai/tools-request.json"), BOTH_TOOLS),
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
    }

    chunks = list(openai_client(emulator).chat.completions.create(**body))

    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and "content" in first.model_fields_set and first.content is None
    head = first.tool_calls[0]
    assert (head.index, head.type, head.function.name, head.function.arguments) == (
        0,
        "function",
        "get_current_weather",
        "",
    )
    assert head.id.startswith("call_")
    fragments: dict[int, list[str]] = {}
    heads = {}
    for chunk in chunks[:-2]:
        for item in chunk.choices[0].delta.tool_calls or []:
            if item.id:
                heads[item.index] = item.function.name
            fragments.setdefault(item.index, []).append(item.function.arguments)
    assert heads == {0: "get_current_weather", 1: "get_local_time"}
    assert json.loads("".join(fragments[0])) == PARIS_WEATHER
    assert json.loads("".join(fragments[1])) == PARIS_TIME
    assert any('"' in piece and piece.count('"') % 2 for piece in fragments[0])  # cut inside strings
    finish, usage = chunks[-2], chunks[-1]
    assert finish.choices[0].finish_reason == "tool_calls"
    assert usage.choices == [] and usage.usage.completion_tokens > 0
    assert all(chunk.usage is None for chunk in chunks[:-1])


def _openai_chunk_kind(chunk: Any) -> str:
    if chunk == "[DONE]":
        return "done"
    if not chunk["choices"]:
        return "usage"
    delta = chunk["choices"][0]["delta"]
    if chunk["choices"][0]["finish_reason"]:
        return f"finish {sorted(delta)}"
    if "role" in delta:
        return f"open {sorted(delta)} {sorted(delta['tool_calls'][0])} {sorted(delta['tool_calls'][0]['function'])}"
    item = delta["tool_calls"][0]
    return "call head" if "id" in item else "fragment"


def test_openai_raw_tool_call_stream_matches_the_fixture_layout(emulator):
    body = {
        **with_user_text(fixture_json("openai/tools-request.json"), BOTH_TOOLS),
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
    }

    response = httpx.post(
        f"{emulator.url_for('openai')}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )

    ours = [_openai_chunk_kind(c) for c in sse_data(response.content)]
    theirs = [_openai_chunk_kind(c) for c in sse_data(fixture_bytes("openai/tools-stream.sse"))]
    assert _collapse(ours) == _collapse(theirs)  # open, fragments, head of call 1, fragments, finish, usage
    first = sse_data(response.content)[0]
    assert first["choices"][0]["delta"]["content"] is None and first["usage"] is None


def test_openai_stream_helper_rebuilds_the_calls(emulator):
    body = with_user_text(fixture_json("openai/tools-request.json"), BOTH_TOOLS)
    del body["stream"]

    with openai_client(emulator).chat.completions.stream(**body) as stream:
        completion = stream.get_final_completion()

    calls = completion.choices[0].message.tool_calls
    assert [json.loads(call.function.arguments) for call in calls] == [PARIS_WEATHER, PARIS_TIME]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_openai_tool_results_get_a_text_answer(emulator):
    body = fixture_json("openai/tools-followup-request.json")

    choice = openai_client(emulator).chat.completions.create(**body).choices[0]

    results = " ".join(m["content"] for m in body["messages"] if m["role"] == "tool")
    assert choice.message.content == echo(results, "Emulated reply to tool results:")
    assert choice.message.tool_calls is None and choice.finish_reason == "stop"


def test_openai_unanswered_tool_call_is_a_400(emulator):
    body = fixture_json("openai/tools-followup-request.json")
    body["messages"].pop()  # drop the answer to call_nPF15...

    with pytest.raises(openai.BadRequestError) as info:
        openai_client(emulator).chat.completions.create(**body)

    assert info.value.body["message"] == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: call_nPF15LsNdIZLL6YDPRIUYTcM"
    )
    assert info.value.param == "messages.[2].role"


def test_openai_tool_message_without_a_call_is_a_400(emulator):
    body = fixture_json("openai/tools-followup-request.json")
    body["messages"][3]["tool_call_id"] = "call_unknown"

    with pytest.raises(openai.BadRequestError) as info:
        openai_client(emulator).chat.completions.create(**body)

    assert (
        "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'"
        in (info.value.body["message"])
    )
    assert info.value.param == "messages.[3].role"


def test_openai_json_schema_answer_is_valid_against_the_schema(emulator):
    body = fixture_json("openai/structured-request-json-schema.json")

    message = openai_client(emulator).chat.completions.create(**body).choices[0].message

    document = json.loads(message.content)
    jsonschema.validate(document, body["response_format"]["json_schema"]["schema"])
    assert document == {"city": "Paris", "temperature_c": 1, "conditions": "sunny", "advice": "emulated"}


class Unit(StrEnum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Place(BaseModel):
    city: str
    country: str


class Reading(BaseModel):
    hour: int
    temperature: float
    windy: bool


class Report(BaseModel):
    place: Place
    unit: Unit
    readings: list[Reading]
    note: str | None
    advice: str


def test_openai_parse_with_a_pydantic_model(emulator):
    completion = openai_client(emulator).chat.completions.parse(
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "Weather report for Paris"}],
        response_format=Report,
    )

    report = completion.choices[0].message.parsed
    assert isinstance(report, Report)
    assert report.place == Place(city="Paris", country="FR")
    assert report.unit is Unit.celsius
    assert report.readings == [Reading(hour=1, temperature=1.0, windy=True)]
    assert report.note == "emulated" and report.advice == "emulated"


def test_openai_json_object_answer_wraps_the_usual_text(emulator):
    body = fixture_json("openai/structured-request-json-object.json")

    content = openai_client(emulator).chat.completions.create(**body).choices[0].message.content

    assert json.loads(content) == {"reply": echo(body["messages"][1]["content"])}


def test_openai_structured_stream_carries_the_json_in_pieces(emulator):
    body = {**fixture_json("openai/structured-request-json-schema.json"), "stream": True}

    chunks = list(openai_client(emulator).chat.completions.create(**body))

    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3
    jsonschema.validate(json.loads("".join(pieces)), body["response_format"]["json_schema"]["schema"])


def test_openai_images_are_seen(emulator):
    body = fixture_json("openai/image-request.json")
    text_only = copy.deepcopy(body)
    text_only["messages"][0]["content"] = text_only["messages"][0]["content"][:1]
    client = openai_client(emulator)

    completion = client.chat.completions.create(**body)
    plain = client.chat.completions.create(**text_only)

    question = body["messages"][0]["content"][0]["text"]
    assert completion.choices[0].message.content == f"{echo(question)} [saw 2 images]"
    assert plain.choices[0].message.content == echo(question)
    assert completion.usage.prompt_tokens == plain.usage.prompt_tokens + 2 * 85


def test_openai_one_image_is_counted_in_the_singular(emulator):
    body = fixture_json("openai/image-request.json")
    body["messages"][0]["content"].pop()  # keep the data: URL image only

    content = openai_client(emulator).chat.completions.create(**body).choices[0].message.content

    assert content.endswith("the [saw 1 image]")


@pytest.mark.parametrize(
    ("model", "url", "message"),
    [
        (
            "gpt-3.5-turbo",
            "https://example.com/a.png",
            "Invalid content type. image_url is only supported by certain models.",
        ),
        ("gpt-4.1-mini", "data:image/png;base64,@@not base64@@", "Expected a base64-encoded data URL"),
        ("gpt-4.1-mini", "data:text/plain;base64,aGVsbG8=", "Expected a base64-encoded data URL"),
        ("gpt-4.1-mini", "data:image/png,rawbytes", "Expected a base64-encoded data URL"),
        ("gpt-4.1-mini", "ftp://example.com/a.png", "Expected a valid URL"),
    ],
)
def test_openai_bad_images_are_a_400(emulator, model, url, message):
    body = fixture_json("openai/image-request.json")
    body["model"] = model
    body["messages"][0]["content"][1]["image_url"]["url"] = url

    with pytest.raises(openai.BadRequestError) as info:
        openai_client(emulator).chat.completions.create(**body)

    assert message in info.value.body["message"]


def test_openai_reasoning_effort_spends_hidden_reasoning_tokens(emulator):
    body = fixture_json("openai/reasoning-request.json")
    client = openai_client(emulator)

    reasoning = client.chat.completions.create(**body)
    plain = client.chat.completions.create(**{**body, "reasoning_effort": "none"})

    details = reasoning.usage.completion_tokens_details
    assert details.reasoning_tokens > 0 and plain.usage.completion_tokens_details.reasoning_tokens == 0
    assert reasoning.usage.completion_tokens == plain.usage.completion_tokens + details.reasoning_tokens
    assert reasoning.usage.total_tokens == reasoning.usage.prompt_tokens + reasoning.usage.completion_tokens
    assert reasoning.choices[0].message.content == plain.choices[0].message.content  # no reasoning text


def test_openai_n_returns_n_choices(emulator):
    client = openai_client(emulator)
    messages = [{"role": "user", "content": "Name three colours"}]

    many = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, n=3)
    one = client.chat.completions.create(model="gpt-4.1-mini", messages=messages)

    assert [c.index for c in many.choices] == [0, 1, 2]
    assert {c.message.content for c in many.choices} == {"Emulated reply to: Name three colours"}
    assert many.usage.completion_tokens == 3 * one.usage.completion_tokens


def test_openai_logprobs_cover_every_piece(emulator):
    completion = openai_client(emulator).chat.completions.create(
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "Name three colours"}],
        logprobs=True,
        top_logprobs=2,
    )

    choice = completion.choices[0]
    entries = choice.logprobs.content
    assert "".join(e.token for e in entries) == choice.message.content
    for entry in entries:
        assert entry.logprob <= 0 and entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 2 and entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[1].logprob < entry.top_logprobs[0].logprob


def test_openai_stream_with_n_and_logprobs(emulator):
    chunks = list(
        openai_client(emulator).chat.completions.create(
            model="gpt-4.1-mini",
            messages=[{"role": "user", "content": "Name three colours"}],
            n=2,
            logprobs=True,
            stream=True,
        )
    )

    texts: dict[int, str] = {}
    finishes = {}
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.delta.content:
                texts[choice.index] = texts.get(choice.index, "") + choice.delta.content
                assert [e.token for e in choice.logprobs.content] == [choice.delta.content]
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: "Emulated reply to: Name three colours", 1: "Emulated reply to: Name three colours"}
    assert finishes == {0: "stop", 1: "stop"}


def test_openai_accepts_sampling_and_bookkeeping_options(emulator):
    completion = openai_client(emulator).chat.completions.create(
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "hello"}],
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        metadata={"team": "gateway"},
        service_tier="priority",
        user="user-1",
    )

    assert completion.choices[0].message.content == "Emulated reply to: hello"
    assert completion.service_tier == "priority"


@pytest.mark.parametrize(
    ("option", "value"), [("n", 0), ("top_logprobs", 21), ("reasoning_effort", "extreme")]
)
def test_openai_invalid_options_are_a_400(emulator, option, value):
    with pytest.raises(openai.BadRequestError) as info:
        openai_client(emulator).chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}], **{option: value}
        )

    assert info.value.param == option


# ================================================================ DeepSeek


def test_deepseek_tool_calls_have_index_and_numbered_ids(emulator):
    body = with_user_text(fixture_json("deepseek/tools-request.json"), BOTH_TOOLS)

    completion = openai_client(emulator, "deepseek").chat.completions.create(**deepseek_kwargs(body))

    choice = completion.choices[0]
    message = choice.message
    assert choice.finish_reason == "tool_calls"
    assert message.model_extra["reasoning_content"] == f"Thinking about: {BOTH_TOOLS}"
    assert [call.model_extra["index"] for call in message.tool_calls] == [0, 1]
    assert [call.id[:8] for call in message.tool_calls] == ["call_00_", "call_01_"]
    assert message.tool_calls[0].function.arguments == json.dumps(PARIS_WEATHER)  # ", " and ": " separators
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0
    assert completion.usage.model_extra["prompt_cache_miss_tokens"] == completion.usage.prompt_tokens


def test_deepseek_tool_call_stream_has_the_fixture_shape(emulator):
    body = {
        **with_user_text(fixture_json("deepseek/tools-request.json"), BOTH_TOOLS),
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    response = httpx.post(
        f"{emulator.url_for('deepseek')}/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )

    events = sse_data(response.content)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    phases = []
    for delta in deltas:
        phase = (
            "tool_calls"
            if "tool_calls" in delta
            else "reasoning"
            if delta.get("reasoning_content")
            else "other"
        )
        if not phases or phases[-1] != phase:
            phases.append(phase)
    assert phases == ["other", "reasoning", "tool_calls", "other"]
    assert deltas[0] == {"role": "assistant", "content": None, "reasoning_content": ""}
    assert deltas[-1] == {"content": "", "reasoning_content": None}
    assert (
        chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and chunks[-1]["usage"]["total_tokens"] > 0
    )
    assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
    arguments: dict[int, str] = {}
    for delta in deltas:
        for item in delta.get("tool_calls", []):
            if "id" in item:
                assert (
                    item["id"].startswith(f"call_{item['index']:02d}_")
                    and item["function"]["arguments"] == ""
                )
            arguments[item["index"]] = arguments.get(item["index"], "") + item["function"]["arguments"]
    assert {i: json.loads(a) for i, a in arguments.items()} == {0: PARIS_WEATHER, 1: PARIS_TIME}


def test_deepseek_forced_tool_with_thinking_off(emulator):
    body = fixture_json("deepseek/tools-request-forced.json")

    message = (
        openai_client(emulator, "deepseek")
        .chat.completions.create(**deepseek_kwargs(body))
        .choices[0]
        .message
    )

    assert [call.function.name for call in message.tool_calls] == ["get_current_weather"]
    assert "reasoning_content" not in (message.model_extra or {})


@pytest.mark.parametrize(
    ("model", "thinking", "tool_choice"),
    [
        (
            "deepseek-flash",
            {"type": "enabled"},
            {"type": "function", "function": {"name": "get_current_weather"}},
        ),
        ("deepseek-flash", {"type": "enabled"}, "required"),
        ("deepseek-reasoner", None, "required"),
    ],
)
def test_deepseek_thinking_refuses_forced_tools(emulator, model, thinking, tool_choice):
    body = {**fixture_json("deepseek/tools-request-forced.json"), "model": model, "tool_choice": tool_choice}
    body.pop("thinking")
    if thinking:
        body["thinking"] = thinking

    with pytest.raises(openai.BadRequestError) as info:
        openai_client(emulator, "deepseek").chat.completions.create(**deepseek_kwargs(body))

    assert info.value.body["message"] == "Thinking mode does not support this tool_choice"


def test_deepseek_follow_up_needs_the_reasoning_content_back(emulator):
    body = fixture_json("deepseek/tools-followup-request.json")
    client = openai_client(emulator, "deepseek")

    answer = client.chat.completions.create(**deepseek_kwargs(body)).choices[0].message
    del body["messages"][2]["reasoning_content"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**deepseek_kwargs(body))
    body["thinking"] = {"type": "disabled"}
    without_thinking = client.chat.completions.create(**deepseek_kwargs(body)).choices[0].message

    results = " ".join(m["content"] for m in body["messages"] if m["role"] == "tool")
    assert answer.content == echo(results, "Emulated reply to tool results:")
    assert (
        info.value.body["message"]
        == "The reasoning_content in the thinking mode must be passed back to the API"
    )
    assert without_thinking.content == answer.content


def test_deepseek_json_mode_is_pretty_json(emulator):
    body = fixture_json("deepseek/json-request.json")

    content = (
        openai_client(emulator, "deepseek")
        .chat.completions.create(**deepseek_kwargs(body))
        .choices[0]
        .message.content
    )

    assert content.startswith("{\n  ")  # pretty, as in json-response.json
    assert json.loads(content) == {"reply": echo(body["messages"][1]["content"])}


def test_deepseek_has_no_json_schema_mode(emulator):
    body = {
        **fixture_json("deepseek/json-request.json"),
        **{"response_format": fixture_json("openai/structured-request-json-schema.json")["response_format"]},
    }

    with pytest.raises(openai.BadRequestError) as info:
        openai_client(emulator, "deepseek").chat.completions.create(**deepseek_kwargs(body))

    assert info.value.body["message"] == "This response_format type is unavailable now"


@pytest.mark.parametrize("model", ["deepseek-flash", "deepseek-v4-flash-vision-exp"])
def test_deepseek_vision_models_see_images(emulator, model):
    body = {**fixture_json("deepseek/image-request.json"), "model": model}

    content = (
        openai_client(emulator, "deepseek")
        .chat.completions.create(**deepseek_kwargs(body))
        .choices[0]
        .message.content
    )

    assert content.endswith(" [saw 2 images]")


@pytest.mark.parametrize("model", ["deepseek-v4-pro", "deepseek-chat"])
def test_deepseek_text_models_refuse_images(emulator, model):
    body = {**fixture_json("deepseek/image-request.json"), "model": model}

    with pytest.raises(openai.BadRequestError) as info:
        openai_client(emulator, "deepseek").chat.completions.create(**deepseek_kwargs(body))

    assert "unknown variant `image_url`, expected `text`" in info.value.body["message"]


@pytest.mark.parametrize(
    ("thinking", "reasons"), [({"type": "enabled"}, True), ({"type": "disabled"}, False)]
)
def test_deepseek_thinking_field_switches_reasoning_content(emulator, thinking, reasons):
    message = (
        openai_client(emulator, "deepseek")
        .chat.completions.create(
            model="deepseek-flash",
            messages=[{"role": "user", "content": "Hello there"}],
            extra_body={"thinking": thinking},
        )
        .choices[0]
        .message
    )

    assert message.content == "Emulated reply to: Hello there"
    assert (message.model_extra or {}).get("reasoning_content") == (
        "Thinking about: Hello there" if reasons else None
    )


# ================================================================ Anthropic


def test_anthropic_tools_auto_calls_the_first_tool_when_the_text_names_none(emulator):
    body = fixture_json("anthropic/tools-request.json")

    message = anthropic_client(emulator).messages.create(**body)

    assert message.stop_reason == "tool_use"
    [tool_use] = message.content
    assert tool_use.type == "tool_use" and tool_use.name == "get_current_weather"
    assert tool_use.id.startswith("toolu_01") and len(tool_use.id) == len("toolu_0176zrzn2gW1LIqRDGc7THdl")
    assert tool_use.caller.type == "direct"
    jsonschema.validate(tool_use.input, tool_schema(body, "get_current_weather"))
    assert tool_use.input == PARIS_WEATHER


def test_anthropic_forced_tool_has_no_text(emulator):
    body = fixture_json("anthropic/tools-request-forced.json")

    message = anthropic_client(emulator).messages.create(**with_user_text(body, BOTH_TOOLS))

    assert [(block.type, block.name) for block in message.content] == [("tool_use", "get_current_weather")]
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("tool_choice", "names"),
    [
        ({"type": "auto"}, ["get_current_weather", "get_local_time"]),
        ({"type": "any"}, ["get_current_weather", "get_local_time"]),
        ({"type": "any", "disable_parallel_tool_use": True}, ["get_current_weather"]),
        ({"type": "none"}, []),
    ],
)
def test_anthropic_tool_choice_modes(emulator, tool_choice, names):
    body = {
        **with_user_text(fixture_json("anthropic/tools-request.json"), BOTH_TOOLS),
        "tool_choice": tool_choice,
    }

    message = anthropic_client(emulator).messages.create(**body)

    assert [block.name for block in message.content if block.type == "tool_use"] == names
    if not names:
        assert message.content[0].text == echo(BOTH_TOOLS) and message.stop_reason == "end_turn"


def test_anthropic_tool_stream_has_the_fixture_event_order(emulator):
    body = {**with_user_text(fixture_json("anthropic/tools-request.json"), BOTH_TOOLS), "stream": True}

    events = list(anthropic_client(emulator).messages.create(**body))

    kinds = [e.type if e.type != "content_block_delta" else e.delta.type for e in events]
    assert kinds[:3] == ["message_start", "content_block_start", "input_json_delta"]  # the SDK drops `ping`
    assert kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e for e in events if e.type == "content_block_start"]
    assert [s.content_block.type for s in starts] == ["tool_use", "tool_use"]
    for start in starts:
        assert start.content_block.input == {} and start.content_block.caller.type == "direct"
        deltas = [
            e.delta.partial_json for e in events if e.type == "content_block_delta" and e.index == start.index
        ]
        assert deltas[0] == "" and len(deltas) > 2
        assert json.loads("".join(deltas)) == (
            PARIS_WEATHER if start.content_block.name == "get_current_weather" else PARIS_TIME
        )
        stop_at = next(
            i for i, e in enumerate(events) if e.type == "content_block_stop" and e.index == start.index
        )
        assert all(not (e.type == "content_block_delta" and e.index == start.index) for e in events[stop_at:])
    assert events[-2].delta.stop_reason == "tool_use"


def test_anthropic_stream_helper_rebuilds_the_inputs(emulator):
    body = with_user_text(fixture_json("anthropic/tools-request.json"), BOTH_TOOLS)

    with anthropic_client(emulator).messages.stream(**body) as stream:
        message = stream.get_final_message()

    assert [b.input for b in message.content if b.type == "tool_use"] == [PARIS_WEATHER, PARIS_TIME]


def test_anthropic_tool_results_get_a_text_answer(emulator):
    body = fixture_json("anthropic/tools-followup-request.json")

    message = anthropic_client(emulator).messages.create(**body)

    results = body["messages"][2]["content"]
    text = f"{results[0]['content']} {results[1]['content'][0]['text']}"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == echo(text, "Emulated reply to tool results:")
    assert message.stop_reason == "end_turn"


def _followup(mutate) -> dict:
    body = fixture_json("anthropic/tools-followup-request.json")
    mutate(body["messages"][2]["content"])
    return body


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda results: results.pop(),
            "messages.2.content.0: Did not find 1 tool_result block(s) at the beginning of this message. "
            "Messages following tool_use blocks must begin with a matching number of tool_result blocks.",
        ),
        (
            lambda results: results.insert(0, {"type": "text", "text": "Here you go"}),
            "messages.2.content.0: Did not find 2 tool_result block(s) at the beginning of this message. "
            "Messages following tool_use blocks must begin with a matching number of tool_result blocks.",
        ),
        (
            lambda results: results[1].update(tool_use_id="toolu_unknown"),
            "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_unknown. Each "
            "`tool_result` block must have a corresponding `tool_use` block in the previous message.",
        ),
    ],
    ids=["missing", "text-first", "unexpected-id"],
)
def test_anthropic_tool_result_rules(emulator, mutate, message):
    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(emulator).messages.create(**_followup(mutate))

    assert info.value.body["error"] == {"type": "invalid_request_error", "message": message}


def test_anthropic_thinking_block_comes_first_and_is_signed(emulator):
    body = fixture_json("anthropic/thinking-request.json")

    message = anthropic_client(emulator).messages.create(**body)

    thinking, tool_use = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == echo(body["messages"][0]["content"], "Thinking about:")
    assert thinking.signature == expected_signature("anthropic-thinking", thinking.thinking)
    assert tool_use.type == "tool_use" and message.stop_reason == "tool_use"  # no text block while thinking
    details = message.usage.output_tokens_details
    assert details.thinking_tokens > 0 and message.usage.output_tokens > details.thinking_tokens


def test_anthropic_thinking_stream_has_the_fixture_event_order(emulator):
    body = {**with_user_text(fixture_json("anthropic/thinking-request.json"), BOTH_TOOLS), "stream": True}

    events = list(anthropic_client(emulator).messages.create(**body))

    first_block = [e for e in events if getattr(e, "index", None) == 0]
    assert first_block[0].type == "content_block_start"
    assert (first_block[0].content_block.thinking, first_block[0].content_block.signature) == ("", "")
    deltas = [e.delta for e in first_block if e.type == "content_block_delta"]
    assert [d.type for d in deltas[:-1]] == ["thinking_delta"] * (len(deltas) - 1)
    assert deltas[-1].type == "signature_delta" and first_block[-1].type == "content_block_stop"
    text = "".join(d.thinking for d in deltas[:-1])
    assert deltas[-1].signature == expected_signature("anthropic-thinking", text)
    assert events[-2].usage.output_tokens_details.thinking_tokens > 0
    template = [
        e["event"] for e in _anthropic_fixture_events("anthropic/thinking-stream.sse") if e["event"] != "ping"
    ]
    ours = [e.type for e in events]
    assert _collapse(ours) == _collapse(template)


def _anthropic_fixture_events(name: str) -> list[dict]:
    blocks = fixture_bytes(name).decode().split("\n\n")
    return [{"event": b.split("\n")[0].removeprefix("event: ")} for b in blocks if b.strip()]


def _collapse(items: list[str]) -> list[str]:
    return [item for i, item in enumerate(items) if not i or items[i - 1] != item]


def test_anthropic_thinking_follow_up_must_replay_the_signed_block(emulator):
    client = anthropic_client(emulator)
    request = fixture_json("anthropic/thinking-request.json")
    first = client.messages.create(**request)
    tool_uses = [b for b in first.content if b.type == "tool_use"]
    results = [
        {"type": "tool_result", "tool_use_id": b.id, "content": "18 degrees and cloudy"} for b in tool_uses
    ]
    turn = first.to_param()

    def follow_up(assistant_content: list) -> dict:
        messages = [*request["messages"], {"role": "assistant", "content": assistant_content}]
        return {**request, "messages": [*messages, {"role": "user", "content": results}]}

    answer = client.messages.create(**follow_up(turn["content"]))
    with pytest.raises(anthropic.BadRequestError) as dropped:
        client.messages.create(**follow_up(turn["content"][1:]))
    forged = [block.model_dump(exclude_none=True) for block in first.content]
    forged[0]["thinking"] += " (edited)"
    with pytest.raises(anthropic.BadRequestError) as edited:
        client.messages.create(**follow_up(forged))
    with pytest.raises(anthropic.BadRequestError) as foreign:  # the fixture's signature is not the emulator's
        client.messages.create(**fixture_json("anthropic/thinking-followup-request.json"))

    assert answer.content[0].type == "thinking"
    assert answer.content[1].text == "Emulated reply to tool results: 18 degrees and cloudy"
    assert dropped.value.body["error"]["message"].startswith(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When "
        "`thinking` is enabled, a final `assistant` message must start with a thinking block"
    )
    assert (
        edited.value.body["error"]["message"]
        == "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    assert (
        foreign.value.body["error"]["message"]
        == "messages.1.content.0: Invalid `signature` in `thinking` block"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tool_choice": {"type": "any"}}, "Thinking may not be enabled when tool_choice forces tool use."),
        (
            {"tool_choice": {"type": "tool", "name": "get_local_time"}},
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 512}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 16000}},
            "`max_tokens` must be greater than `thinking.budget_tokens`.",
        ),
    ],
)
def test_anthropic_thinking_rules(emulator, changes, message):
    body = {**fixture_json("anthropic/thinking-request.json"), **changes}

    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(emulator).messages.create(**body)

    assert info.value.body["error"]["message"].startswith(message)


def test_anthropic_manual_thinking_and_omitted_display(emulator):
    client = anthropic_client(emulator)
    request = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hi"}],
    }

    manual = client.messages.create(**request, thinking={"type": "enabled", "budget_tokens": 2048})
    omitted = client.messages.create(**request, thinking={"type": "adaptive", "display": "omitted"})

    assert [b.type for b in manual.content] == ["thinking", "text"]
    assert (
        manual.content[0].thinking == "Thinking about: Hi"
        and manual.content[1].text == "Emulated reply to: Hi"
    )
    assert omitted.content[0].thinking == ""
    assert omitted.content[0].signature == expected_signature("anthropic-thinking", "")
    assert (
        omitted.usage.output_tokens_details.thinking_tokens
        == manual.usage.output_tokens_details.thinking_tokens
    )


def test_anthropic_structured_output_is_one_json_text_block(emulator):
    body = fixture_json("anthropic/structured-request.json")

    message = anthropic_client(emulator).messages.create(**body)

    [block] = message.content
    document = json.loads(block.text)
    jsonschema.validate(document, body["output_config"]["format"]["schema"])
    assert document["city"] == "Paris" and document["conditions"] == "sunny"


def test_anthropic_parse_with_a_pydantic_model(emulator):
    message = anthropic_client(emulator).messages.parse(
        model="claude-sonnet-4-6",
        max_tokens=512,
        messages=[{"role": "user", "content": "Weather report for Paris"}],
        output_format=Report,
    )

    report = message.parsed_output
    assert isinstance(report, Report) and report.place.city == "Paris" and report.unit is Unit.celsius


def test_anthropic_images_are_seen(emulator):
    body = fixture_json("anthropic/image-request.json")

    message = anthropic_client(emulator).messages.create(**body)

    assert message.content[0].text == f"{echo(body['messages'][0]['content'][2]['text'])} [saw 2 images]"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"type": "base64", "media_type": "image/png", "data": "not*base64!"},
            "base64.data: The image data is not valid base64.",
        ),
        (
            {"type": "base64", "media_type": "image/bmp", "data": "aGVsbG8="},
            "base64.media_type: Input should be",
        ),
        ({"type": "url", "url": "file:///etc/passwd"}, "url.url: Input should be a valid URL"),
    ],
)
def test_anthropic_bad_images_are_a_400(emulator, source, message):
    body = fixture_json("anthropic/image-request.json")
    body["messages"][0]["content"][0]["source"] = source

    with pytest.raises(anthropic.BadRequestError) as info:
        anthropic_client(emulator).messages.create(**body)

    assert info.value.body["error"]["message"].startswith(f"messages.0.content.0.image.source.{message}")


# ================================================================ Gemini


def _parts(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["candidates"][0]["content"]["parts"]


def test_gemini_function_call_is_signed_on_thinking_models(emulator):
    body = fixture_json("gemini/tools-request.json")

    response = gemini(emulator, body)

    [part] = _parts(response)
    call = part["functionCall"]
    assert set(call) == {"name", "args"}  # no id, as in the recordings
    assert call["name"] == "get_current_weather" and call["args"] == PARIS_WEATHER
    jsonschema.validate(call["args"], tool_schema(body, "get_current_weather"))
    assert part["thoughtSignature"] == call_signature("get_current_weather", PARIS_WEATHER)
    candidate = response.json()["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert response.json()["usageMetadata"]["thoughtsTokenCount"] > 0


@pytest.mark.parametrize(
    ("model", "signed"),
    [("gemini-2.5-flash", True), ("gemini-3-pro-preview", True), ("gemini-2.0-flash", False)],
)
def test_gemini_parallel_calls_sign_only_the_first(emulator, model, signed):
    body = with_user_text(fixture_json("gemini/tools-request.json"), BOTH_TOOLS)

    parts = _parts(gemini(emulator, body, model))

    assert [p["functionCall"]["name"] for p in parts] == ["get_current_weather", "get_local_time"]
    assert ["thoughtSignature" in p for p in parts] == [signed, False]


def test_gemini_forced_call_with_an_upper_case_schema(emulator):
    body = fixture_json("gemini/tools-request-forced.json")

    [part] = _parts(gemini(emulator, with_user_text(body, BOTH_TOOLS)))

    assert part["functionCall"]["name"] == "get_current_weather"
    jsonschema.validate(part["functionCall"]["args"], tool_schema(body, "get_current_weather"))


def test_gemini_mode_none_answers_text(emulator):
    body = fixture_json("gemini/tools-request.json")
    body["toolConfig"]["functionCallingConfig"]["mode"] = "NONE"

    [part] = _parts(gemini(emulator, body))

    assert part == {"text": echo(body["contents"][0]["parts"][0]["text"])}


def test_gemini_function_call_stream_has_the_fixture_shape(emulator):
    response = gemini(emulator, fixture_json("gemini/tools-request-forced.json"), stream=True)

    raw = response.content
    assert (
        raw.endswith(b"\r\n\r\n") and raw.count(b"\r\n\r\n") == 2 and b"\n\n" not in raw.replace(b"\r\n", b"")
    )
    first, last = sse_data(raw)
    [part] = first["candidates"][0]["content"]["parts"]
    assert part["functionCall"] == {"name": "get_current_weather", "args": PARIS_WEATHER}
    assert part["thoughtSignature"] == call_signature("get_current_weather", PARIS_WEATHER)
    assert "finishReason" not in first["candidates"][0]
    assert last["candidates"][0]["content"]["parts"] == [{"text": ""}]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert first["responseId"] == last["responseId"]
    template = sse_data(fixture_bytes("gemini/tools-stream.sse"))
    assert [set(c["candidates"][0]) for c in (first, last)] == [set(c["candidates"][0]) for c in template]


def _gemini_followup(signature: str | None) -> dict:
    body = fixture_json("gemini/tools-followup-request.json")
    part = body["contents"][1]["parts"][0]
    part.pop("thoughtSignature")
    if signature is not None:
        part["thoughtSignature"] = signature
    return body


def test_gemini_follow_up_with_the_issued_signature(emulator):
    issued = _parts(gemini(emulator, fixture_json("gemini/tools-request.json")))[0]["thoughtSignature"]
    url_safe = issued.replace("+", "-").replace("/", "_").rstrip("=")
    dummy = base64.b64encode(b"skip_thought_signature_validator").decode()

    answers = [_parts(gemini(emulator, _gemini_followup(sig))) for sig in (issued, url_safe, dummy)]

    outputs = [
        p["functionResponse"]["response"]["output"] for p in _gemini_followup(None)["contents"][2]["parts"]
    ]
    expected = echo(" ".join(json.dumps(o) for o in outputs), "Emulated reply to tool results:")
    assert answers == [[{"text": expected}]] * 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_gemini_followup(None), "Function call is missing a thought_signature in functionCall parts."),
        (fixture_json("gemini/tools-followup-request.json"), "Corrupted thought signature."),
        (fixture_json("gemini/tools-followup-request.google-genai.json"), "Corrupted thought signature."),
    ],
    ids=["missing", "foreign", "foreign-url-safe"],
)
def test_gemini_thinking_models_check_the_signature(emulator, body, message):
    response = gemini(emulator, body)
    unchecked = gemini(emulator, body, "gemini-2.0-flash")  # no thinking, no signatures to check

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.json()["error"]["message"].startswith(message)
    assert unchecked.status_code == 200 and _parts(unchecked)[0]["text"].startswith(
        "Emulated reply to tool results:"
    )


def test_gemini_signatures_are_only_checked_in_the_current_turn(emulator):
    body = _gemini_followup(None)  # an unsigned call, but in an earlier turn
    body["contents"] += [
        {"role": "model", "parts": [{"text": "It is 18 °C."}]},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]
    body["toolConfig"]["functionCallingConfig"]["mode"] = "NONE"

    response = gemini(emulator, body)

    assert _parts(response) == [{"text": "Emulated reply to: Thanks"}]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda contents: contents.pop(1),
            "function response turn comes immediately after a function call turn",
        ),
        (lambda contents: contents[2]["parts"].pop(), "the number of function response parts is equal"),
        (
            lambda contents: contents.insert(2, {"role": "user", "parts": [{"text": "and?"}]}),
            "the number of function response parts is equal",
        ),
    ],
    ids=["response-without-call", "one-response-short", "no-response"],
)
def test_gemini_function_responses_follow_their_calls(emulator, mutate, message):
    body = fixture_json("gemini/tools-followup-request.json")
    mutate(body["contents"])

    response = gemini(emulator, body, "gemini-2.0-flash")

    assert response.status_code == 400 and message in response.json()["error"]["message"]


@pytest.mark.parametrize("schema_key", ["responseJsonSchema", "response_json_schema", "responseSchema"])
def test_gemini_structured_output(emulator, schema_key):
    body = fixture_json("gemini/structured-request.json")
    schema = body["generationConfig"].pop("responseJsonSchema")
    if schema_key == "responseSchema":  # Gemini's own OpenAPI-style Schema, upper-case types
        schema = {
            "type": "OBJECT",
            "properties": {
                "city": {"type": "STRING"},
                "conditions": {"type": "STRING", "enum": ["rain", "snow"]},
                "hours": {"type": "ARRAY", "items": {"type": "INTEGER"}},
            },
            "required": ["city", "conditions", "hours"],
        }
    body["generationConfig"][schema_key] = schema

    [part] = _parts(gemini(emulator, body))

    assert part["text"].startswith("{\n  ")  # pretty-printed, as in structured-response.json
    jsonschema.validate(json.loads(part["text"]), lower_types(schema))


def test_gemini_json_mime_type_alone_wraps_the_usual_text(emulator):
    body = fixture_json("gemini/structured-request.json")
    del body["generationConfig"]["responseJsonSchema"]

    [part] = _parts(gemini(emulator, body))

    assert json.loads(part["text"]) == {"reply": echo(body["contents"][0]["parts"][0]["text"])}


def test_gemini_structured_stream_carries_the_json_in_pieces(emulator):
    body = fixture_json("gemini/structured-request.json")

    chunks = sse_data(gemini(emulator, body, stream=True).content)

    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert len(chunks) > 1
    jsonschema.validate(json.loads(text), body["generationConfig"]["responseJsonSchema"])


@pytest.mark.parametrize("snake_case", [False, True])
def test_gemini_images_are_seen(emulator, snake_case):
    body = fixture_json("gemini/image-request.json")
    if snake_case:  # what google-genai sends for nested keys
        parts = body["contents"][0]["parts"]
        parts[1] = {"inline_data": {"mime_type": "image/png", "data": parts[1]["inlineData"]["data"]}}
        parts[2] = {"file_data": {"mime_type": "image/jpeg", "file_uri": parts[2]["fileData"]["fileUri"]}}

    [part] = _parts(gemini(emulator, body))

    assert part["text"] == f"{echo(body['contents'][0]['parts'][0]['text'])} [saw 2 images]"


def test_gemini_bad_inline_data_is_a_400(emulator):
    body = fixture_json("gemini/image-request.json")
    body["contents"][0]["parts"][1]["inlineData"]["data"] = "***"

    response = gemini(emulator, body)

    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.json()["error"]["message"].startswith(
        "Invalid value at 'contents[0].parts[1].inline_data.data' (TYPE_BYTES), Base64 decoding failed"
    )


def test_gemini_thoughts_come_first_and_the_answer_is_signed(emulator):
    body = fixture_json("gemini/thinking-request.json")
    question = body["contents"][0]["parts"][0]["text"]

    response = gemini(emulator, body)

    thought, answer = _parts(response)
    assert thought == {"text": echo(question, "Thinking about:"), "thought": True}
    assert answer["text"] == echo(question)
    assert answer["thoughtSignature"] == expected_signature("gemini-text", answer["text"])
    usage = response.json()["usageMetadata"]
    assert usage["thoughtsTokenCount"] > 0
    assert (
        usage["totalTokenCount"]
        == usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )


def test_gemini_thought_stream(emulator):
    body = fixture_json("gemini/thinking-request.json")

    chunks = sse_data(gemini(emulator, body, stream=True).content)

    parts = [c["candidates"][0]["content"]["parts"][0] for c in chunks]
    thoughts = [p for p in parts if p.get("thought")]
    answers = [p for p in parts if not p.get("thought")]
    assert parts == thoughts + answers and thoughts and answers
    assert all("candidatesTokenCount" not in c["usageMetadata"] for c in chunks[: len(thoughts)])
    assert ["thoughtSignature" in p for p in answers] == [True] + [False] * (len(answers) - 1)
    assert "".join(p["text"] for p in answers) == echo(body["contents"][0]["parts"][0]["text"])


@pytest.mark.parametrize(
    ("config", "thoughts"),
    [
        ({"thinkingBudget": 0, "includeThoughts": True}, False),
        ({"include_thoughts": True, "thinking_budget": 512}, True),
    ],
)
def test_gemini_thinking_config_spellings_and_budget_zero(emulator, config, thoughts):
    body = {**fixture_json("gemini/thinking-request.json"), "generationConfig": {"thinkingConfig": config}}

    response = gemini(emulator, body)

    assert any(p.get("thought") for p in _parts(response)) == thoughts
    assert ("thoughtsTokenCount" in response.json()["usageMetadata"]) == thoughts


def test_gemini_thinking_budget_and_level_together_is_a_400(emulator):
    body = fixture_json("gemini/thinking-request.json")
    body["generationConfig"]["thinkingConfig"]["thinkingLevel"] = "LOW"

    response = gemini(emulator, body)

    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "thinking_budget and thinking_level" in response.json()["error"]["message"]
