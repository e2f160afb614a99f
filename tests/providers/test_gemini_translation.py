"""The Gemini adapter's translation of tools, structured output, images, thinking and options.

Each test drives the real adapter over loopback HTTP against the emulator, which answers with a
replayed fixture (so the emulator's own tool logic is not involved); the request body the
emulator recorded is compared with the Gemini fixture request of the same conversation.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from providers.adapters import ChatRequest, Message, ProviderError, Usage
from providers.adapters.messages import (
    ImagePart,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from providers.adapters.results import ToolCallDelta

from .conftest import fixture_bytes, fixture_json

MODEL = "gemini-2.5-flash"
INVENTED_ID = re.compile(r"call_[0-9a-f]{24}")
WEATHER_ARGS = '{"location":{"city":"Paris","country":"FR"},"unit":"celsius"}'
TIME_ARGS = '{"timezone":"Europe/Paris"}'
PARALLEL_SIGNATURE = fixture_json("gemini/tools-response-parallel.json")["candidates"][0]["content"]["parts"][
    0
]["thoughtSignature"]


# ---------------------------------------------------------------- helpers


def _messages(openai_messages: list[dict[str, Any]]) -> list[Message]:
    """OpenAI chat messages (as in the OpenAI fixtures) as the gateway's internal messages."""
    out = []
    for m in openai_messages:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in m.get("tool_calls", [])
        )
        out.append(
            Message(m["role"], m.get("content") or "", tool_calls=calls, tool_call_id=m.get("tool_call_id"))
        )
    return out


def _tools(openai_body: dict[str, Any]) -> list[ToolSpec]:
    return [
        ToolSpec(f["name"], f.get("description"), f.get("parameters"), f.get("strict"))
        for f in (t["function"] for t in openai_body["tools"])
    ]


def _tools_request(tool_choice: ToolChoice | None = ToolChoice("auto"), **changes: Any) -> ChatRequest:
    """The OpenAI tools request (the forced one when a function is named), as the gateway holds it."""
    forced = tool_choice is not None and tool_choice.mode == "function"
    body = fixture_json("openai/tools-request-forced.json" if forced else "openai/tools-request.json")
    fields: dict[str, Any] = {
        "model": MODEL,
        "messages": _messages(body["messages"]),
        "max_tokens": 1024,
        "tools": _tools(body),
        "tool_choice": tool_choice,
        **changes,
    }
    return ChatRequest(**fields)


def _followup_request(**changes: Any) -> ChatRequest:
    """The OpenAI follow-up conversation; the first call carries the signature Gemini gave it."""
    body = fixture_json("openai/tools-followup-request.json")
    messages = _messages(body["messages"])
    assistant = messages[2]
    first, second = assistant.tool_calls
    messages[2] = Message(
        "assistant",
        "",
        tool_calls=(ToolCall(first.id, first.name, first.arguments, PARALLEL_SIGNATURE), second),
        reasoning=(ReasoningPart("**Looking up Paris**", protocol="gemini"),),
    )
    fields: dict[str, Any] = {
        "model": MODEL,
        "messages": messages,
        "max_tokens": 1024,
        "tools": _tools(body),
        "tool_choice": ToolChoice("auto"),
        **changes,
    }
    return ChatRequest(**fields)


def _sent(emulator) -> dict[str, Any]:
    return emulator.requests("gemini")[-1]["body"]


def _answer(text: str = "ok") -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
        "modelVersion": MODEL,
        "responseId": "resp-1",
    }


async def _complete(make_adapter, emulator, request: ChatRequest, reply: Any = None):
    emulator.emulator.replay("gemini", _answer() if reply is None else reply)
    return await make_adapter("gemini").complete(request, timeout=5)


async def _stream(make_adapter, emulator, request: ChatRequest, fixture: str):
    emulator.emulator.replay("gemini", fixture_bytes(fixture), stream=True)
    return [chunk async for chunk in make_adapter("gemini").stream(request, timeout=5)]


# ---------------------------------------------------------------- tools


async def test_tools_auto_request_matches_the_fixture_and_parallel_calls_come_back(make_adapter, emulator):
    response = await _complete(
        make_adapter, emulator, _tools_request(), fixture_json("gemini/tools-response-parallel.json")
    )

    assert _sent(emulator) == fixture_json("gemini/tools-request.json")
    assert response.finish_reason == "tool_calls"
    assert response.provider_details["native_finish_reason"] == "STOP"
    assert response.content == ""
    weather, local_time = response.tool_calls
    assert all(INVENTED_ID.fullmatch(call.id) for call in response.tool_calls)
    assert weather.id != local_time.id
    assert (weather.name, weather.arguments) == ("get_current_weather", WEATHER_ARGS)
    assert (local_time.name, local_time.arguments) == ("get_local_time", TIME_ARGS)
    assert weather.signature == PARALLEL_SIGNATURE  # unchanged, standard base64 kept
    assert local_time.signature is None  # the signature rides on the first call only
    assert response.usage == Usage(156, 41 + 112, 0, 112)
    assert response.reasoning == []


async def test_forced_tool_request_and_single_call_response(make_adapter, emulator):
    request = _tools_request(ToolChoice("function", "get_current_weather"))

    response = await _complete(make_adapter, emulator, request, fixture_json("gemini/tools-response.json"))

    sent, forced = _sent(emulator), fixture_json("gemini/tools-request-forced.json")
    assert sent["toolConfig"] == forced["toolConfig"]
    assert sent["toolConfig"]["functionCallingConfig"] == {
        "mode": "ANY",
        "allowedFunctionNames": ["get_current_weather"],
    }
    # The fixture shows Gemini's own Schema form; plain JSON Schema goes as parametersJsonSchema.
    declared = sent["tools"][0]["functionDeclarations"]
    assert [(d["name"], d["description"]) for d in declared] == [
        (d["name"], d["description"]) for d in forced["tools"][0]["functionDeclarations"]
    ]
    assert all(set(d) == {"name", "description", "parametersJsonSchema"} for d in declared)
    assert {k: v for k, v in sent.items() if k != "tools"} == {
        k: v for k, v in forced.items() if k != "tools"
    }
    [call] = response.tool_calls
    assert INVENTED_ID.fullmatch(call.id)
    assert (call.name, call.arguments) == ("get_current_weather", WEATHER_ARGS)
    assert (
        call.signature
        == fixture_json("gemini/tools-response.json")["candidates"][0]["content"]["parts"][0][
            "thoughtSignature"
        ]
    )
    assert response.finish_reason == "tool_calls"  # Gemini said STOP


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (ToolChoice("required"), {"mode": "ANY"}),
        (ToolChoice("none"), {"mode": "NONE"}),
        (ToolChoice("auto"), {"mode": "AUTO"}),
        (None, None),
    ],
    ids=["required", "none", "auto", "unset"],
)
async def test_tool_choice_modes(make_adapter, emulator, choice, config):
    await _complete(make_adapter, emulator, _tools_request(choice))

    sent = _sent(emulator)
    assert sent.get("toolConfig") == (None if config is None else {"functionCallingConfig": config})


async def test_tool_without_description_or_parameters(make_adapter, emulator):
    request = ChatRequest(MODEL, [Message("user", "Ping?")], tools=[ToolSpec("ping")])

    await _complete(make_adapter, emulator, request)

    assert _sent(emulator)["tools"] == [{"functionDeclarations": [{"name": "ping"}]}]


async def test_gemini_call_ids_are_kept(make_adapter, emulator):
    reply = fixture_json("gemini/tools-response-parallel.json")
    for n, part in enumerate(reply["candidates"][0]["content"]["parts"]):
        part["functionCall"]["id"] = f"gm-{n}"

    response = await _complete(make_adapter, emulator, _tools_request(), reply)

    assert [call.id for call in response.tool_calls] == ["gm-0", "gm-1"]


async def test_streamed_tool_call_arrives_whole(make_adapter, emulator):
    request = _tools_request(ToolChoice("function", "get_current_weather"))

    chunks = await _stream(make_adapter, emulator, request, "gemini/tools-stream.sse")

    assert emulator.requests("gemini")[-1]["query"] == {"alt": "sse"}
    *body, last = chunks
    deltas = [delta for chunk in body for delta in chunk.tool_call_deltas]
    [delta] = deltas
    assert INVENTED_ID.fullmatch(delta.id or "")
    assert delta == ToolCallDelta(index=0, id=delta.id, name="get_current_weather", arguments=WEATHER_ARGS)
    assert "".join(chunk.delta for chunk in chunks) == ""
    assert all(chunk.finish_reason is None and not chunk.tool_calls for chunk in body)
    assert last.finish_reason == "tool_calls"
    assert last.usage == Usage(141, 24 + 87, 0, 87)
    [call] = last.tool_calls
    signature = json.loads(fixture_bytes("gemini/tools-stream.sse").split(b"\r\n")[0][6:])["candidates"][0][
        "content"
    ]["parts"][0]["thoughtSignature"]
    assert call == ToolCall(delta.id, "get_current_weather", WEATHER_ARGS, signature)
    assert last.reasoning_parts == []


async def test_streamed_parallel_calls_are_collected_across_chunks(make_adapter, emulator):
    parts = fixture_json("gemini/tools-response-parallel.json")["candidates"][0]["content"]["parts"]
    events = [
        {"candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0}], "responseId": "r"}
        for part in parts
    ]
    events.append(
        {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}]}
    )
    emulator.emulator.replay("gemini", "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events), stream=True)

    chunks = [c async for c in make_adapter("gemini").stream(_tools_request(), timeout=5)]

    deltas = [d for c in chunks for d in c.tool_call_deltas]
    assert [(d.index, d.name) for d in deltas] == [(0, "get_current_weather"), (1, "get_local_time")]
    calls = chunks[-1].tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [(d.id, d.name, d.arguments) for d in deltas]
    assert [c.signature for c in calls] == [PARALLEL_SIGNATURE, None]
    assert chunks[-1].finish_reason == "tool_calls"


# ---------------------------------------------------------------- follow-up


async def test_followup_from_an_openai_conversation(make_adapter, emulator):
    await _complete(make_adapter, emulator, _followup_request())

    expected = fixture_json("gemini/tools-followup-request.json")
    sent = _sent(emulator)
    assert sent == expected  # JSON results go as the value of "output", as google-genai sends them
    model_turn = sent["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == PARALLEL_SIGNATURE  # on the same part as its call
    assert "thoughtSignature" not in model_turn["parts"][1]
    assert not any("text" in part for part in model_turn["parts"])  # the Gemini thought is not replayed
    calls = [p["functionCall"] for p in model_turn["parts"]]
    responses = [p["functionResponse"] for p in sent["contents"][2]["parts"]]
    assert not any("id" in item for item in calls + responses)  # invented ids stay home


async def test_followup_results_go_in_call_order_with_names_and_wrapped_text(make_adapter, emulator):
    request = _followup_request()
    messages = list(request.messages)
    weather, local_time = messages[3], messages[4]
    messages[3:] = [
        Message("tool", "11:00", tool_call_id=local_time.tool_call_id),
        Message("tool", "[18, 19]", tool_call_id=weather.tool_call_id),
        Message("user", "Thanks. Anything else?"),
    ]
    messages[2] = Message("assistant", "Let me check.", tool_calls=messages[2].tool_calls)

    await _complete(make_adapter, emulator, ChatRequest(MODEL, messages))

    contents = _sent(emulator)["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0] == {"text": "Let me check."}
    assert [list(p) for p in contents[1]["parts"][1:]] == [
        ["functionCall", "thoughtSignature"],
        ["functionCall"],
    ]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_current_weather", "response": {"output": [18, 19]}}},
        {"functionResponse": {"name": "get_local_time", "response": {"output": "11:00"}}},
        {"text": "Thanks. Anything else?"},
    ]


async def test_gemini_ids_are_echoed_on_the_call_and_its_response(make_adapter, emulator):
    messages = [
        Message("user", "Time?"),
        Message("assistant", "", tool_calls=(ToolCall("gm-7", "get_local_time", TIME_ARGS, "c2ln"),)),
        Message("tool", '{"local_time": "11:00"}', tool_call_id="gm-7"),
    ]

    await _complete(make_adapter, emulator, ChatRequest(MODEL, messages))

    contents = _sent(emulator)["contents"]
    assert contents[1]["parts"] == [
        {
            "functionCall": {"name": "get_local_time", "args": {"timezone": "Europe/Paris"}, "id": "gm-7"},
            "thoughtSignature": "c2ln",
        }
    ]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_local_time", "response": {"output": {"local_time": "11:00"}}, "id": "gm-7"}}
    ]


async def test_round_trip_replays_the_answer_it_parsed(make_adapter, emulator):
    adapter = make_adapter("gemini")
    emulator.emulator.replay("gemini", fixture_json("gemini/tools-response-parallel.json"))
    first = await adapter.complete(_tools_request(), timeout=5)
    results = ['{"temperature": 18}', '{"local_time": "11:00"}']
    messages = [
        *_tools_request().messages,
        Message(
            "assistant", first.content, tool_calls=tuple(first.tool_calls), reasoning=tuple(first.reasoning)
        ),
        *(Message("tool", r, tool_call_id=c.id) for c, r in zip(first.tool_calls, results, strict=True)),
    ]
    emulator.emulator.replay("gemini", _answer("18 °C, 11:00."))

    second = await adapter.complete(_tools_request(messages=messages), timeout=5)

    replayed = fixture_json("gemini/tools-response-parallel.json")["candidates"][0]["content"]
    contents = _sent(emulator)["contents"]
    assert contents[1] == replayed  # the model turn goes back exactly as it came
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == [
        "get_current_weather",
        "get_local_time",
    ]
    assert second.content == "18 °C, 11:00."


async def test_unknown_tool_result_is_a_bad_request(make_adapter, emulator):
    request = ChatRequest(MODEL, [Message("user", "Hi"), Message("tool", "x", tool_call_id="call_nope")])

    with pytest.raises(ProviderError) as info:
        await make_adapter("gemini").complete(request, timeout=5)

    assert (info.value.kind, info.value.retryable) == ("bad_request", False)
    assert emulator.requests("gemini") == []


# ---------------------------------------------------------------- structured output


async def test_json_schema_request_matches_the_fixture(make_adapter, emulator):
    body = fixture_json("openai/structured-request-json-schema.json")
    spec = body["response_format"]["json_schema"]
    request = ChatRequest(
        MODEL,
        _messages(body["messages"]),
        max_tokens=512,
        response_format=ResponseFormat("json_schema", spec["schema"], spec["name"], spec.get("description")),
    )

    response = await _complete(
        make_adapter, emulator, request, fixture_json("gemini/structured-response.json")
    )

    assert _sent(emulator) == fixture_json("gemini/structured-request.json")
    assert json.loads(response.content)["conditions"] == "partly_cloudy"
    assert response.finish_reason == "stop"


@pytest.mark.parametrize(
    ("response_format", "config"),
    [
        (ResponseFormat("json_object"), {"responseMimeType": "application/json"}),
        (ResponseFormat("text"), None),
    ],
    ids=["json_object", "text"],
)
async def test_other_response_formats(make_adapter, emulator, response_format, config):
    await _complete(
        make_adapter,
        emulator,
        ChatRequest(MODEL, [Message("user", "JSON?")], response_format=response_format),
    )

    assert _sent(emulator).get("generationConfig") == config


# ---------------------------------------------------------------- images


async def test_image_request_matches_the_fixture(make_adapter, emulator):
    expected = fixture_json("gemini/image-request.json")
    text, inline, remote = expected["contents"][0]["parts"]
    data_url = f"data:{inline['inlineData']['mimeType']};base64,{inline['inlineData']['data']}"
    message = Message(
        "user",
        text["text"],
        parts=(TextPart(text["text"]), ImagePart(data_url, "high"), ImagePart(remote["fileData"]["fileUri"])),
    )

    await _complete(make_adapter, emulator, ChatRequest(MODEL, [message], max_tokens=300))

    assert _sent(emulator) == expected


async def test_https_image_media_type_comes_from_the_extension(make_adapter, emulator):
    url = "https://example.com/pics/cat.PNG?size=large"
    message = Message("user", "What is this?", parts=(ImagePart(url), TextPart("What is this?")))

    await _complete(make_adapter, emulator, ChatRequest(MODEL, [message]))

    assert _sent(emulator)["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/png", "fileUri": url}},
        {"text": "What is this?"},
    ]


# ---------------------------------------------------------------- thinking


async def test_thinking_request_matches_the_fixture(make_adapter, emulator):
    expected = fixture_json("gemini/thinking-request.json")
    question = expected["contents"][0]["parts"][0]["text"]

    await _complete(
        make_adapter,
        emulator,
        ChatRequest(MODEL, [Message("user", question)], max_tokens=2048, reasoning_effort="low"),
    )

    assert _sent(emulator) == expected


@pytest.mark.parametrize(
    ("model", "effort", "config"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-flash", "minimal", {"includeThoughts": True, "thinkingBudget": 512}),
        ("gemini-2.5-pro", "medium", {"includeThoughts": True, "thinkingBudget": 8192}),
        ("gemini-2.5-pro", "high", {"includeThoughts": True, "thinkingBudget": 24576}),
        ("gemini-2.5-pro", "xhigh", {"includeThoughts": True, "thinkingBudget": -1}),
        ("gemini-2.5-flash", "max", {"includeThoughts": True, "thinkingBudget": -1}),
        ("gemini-3-pro-preview", "none", {"thinkingBudget": 0}),
        ("gemini-3-flash-preview", "minimal", {"includeThoughts": True, "thinkingLevel": "MINIMAL"}),
        ("gemini-3-pro-preview", "low", {"includeThoughts": True, "thinkingLevel": "LOW"}),
        ("gemini-3.1-pro", "medium", {"includeThoughts": True, "thinkingLevel": "MEDIUM"}),
        ("gemini-3-pro-preview", "high", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
        ("gemini-3-pro-preview", "xhigh", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
        ("gemini-4-ultra", "max", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
    ],
)
async def test_reasoning_effort_to_thinking_config(make_adapter, emulator, model, effort, config):
    await _complete(
        make_adapter, emulator, ChatRequest(model, [Message("user", "Hm?")], reasoning_effort=effort)
    )

    assert _sent(emulator)["generationConfig"] == {"thinkingConfig": config}


async def test_thinking_response_keeps_thoughts_out_of_the_content(make_adapter, emulator):
    fixture = fixture_json("gemini/thinking-response.json")
    thought, answer = fixture["candidates"][0]["content"]["parts"]

    response = await _complete(
        make_adapter,
        emulator,
        ChatRequest(MODEL, [Message("user", "Will I make it?")], reasoning_effort="low"),
        fixture,
    )

    assert response.content == answer["text"]
    assert response.reasoning == [ReasoningPart(thought["text"], protocol="gemini")]
    assert response.reasoning_text == thought["text"]
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.usage == Usage(29, 47 + 388, 0, 388)


async def test_thinking_stream_sends_thoughts_as_reasoning(make_adapter, emulator):
    request = ChatRequest(MODEL, [Message("user", "Will I make it?")], reasoning_effort="low")

    chunks = await _stream(make_adapter, emulator, request, "gemini/thinking-stream.sse")

    events = [
        json.loads(line[6:]) for line in fixture_bytes("gemini/thinking-stream.sse").split(b"\r\n") if line
    ]
    parts = [e["candidates"][0]["content"]["parts"][0] for e in events]
    thoughts = "".join(p["text"] for p in parts if p.get("thought"))
    answer = "".join(p["text"] for p in parts if not p.get("thought"))
    *body, last = chunks
    assert [c.reasoning for c in body if c.reasoning] == [p["text"] for p in parts if p.get("thought")]
    assert "".join(c.delta for c in chunks) == answer
    assert not any(c.delta and c.reasoning for c in chunks)
    assert last.finish_reason == "stop"
    assert last.reasoning_parts == [ReasoningPart(thoughts, protocol="gemini")]
    assert last.tool_calls == []
    assert last.usage == Usage(29, 47 + 388, 0, 388)


# ---------------------------------------------------------------- options and features


async def test_seed_and_penalties_go_into_generation_config(make_adapter, emulator):
    options = {
        "seed": 42,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.25,
        "logprobs": True,
        "top_logprobs": 3,
    }
    request = ChatRequest(MODEL, [Message("user", "Hi")], temperature=0.3, options=options)

    await _complete(make_adapter, emulator, request)

    assert _sent(emulator)["generationConfig"] == {
        "temperature": 0.3,
        "seed": 42,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.25,
    }


async def test_n_asks_for_candidates_and_returns_the_extra_ones(make_adapter, emulator):
    reply = fixture_json("gemini/tools-response.json")
    reply["candidates"] = [
        {
            "content": {"parts": [{"text": "Second."}], "role": "model"},
            "finishReason": "MAX_TOKENS",
            "index": 1,
        },
        *reply["candidates"],
        {"content": {"parts": [{"text": "Third."}], "role": "model"}, "finishReason": "STOP", "index": 2},
    ]

    response = await _complete(make_adapter, emulator, _tools_request(options={"n": 3}), reply)

    assert _sent(emulator)["generationConfig"] == {"maxOutputTokens": 1024, "candidateCount": 3}
    assert response.finish_reason == "tool_calls"
    assert [c.name for c in response.tool_calls] == ["get_current_weather"]
    assert [(c.content, c.finish_reason, c.tool_calls) for c in response.more_choices] == [
        ("Second.", "length", []),
        ("Third.", "stop", []),
    ]


async def test_n_above_one_cannot_be_streamed(make_adapter, emulator):
    adapter = make_adapter("gemini")
    request = ChatRequest(MODEL, [Message("user", "Hi")], options={"n": 2})

    assert adapter.unsupported(request) == set()
    assert adapter.unsupported(request, stream=True) == {"n"}
    assert (
        adapter.unsupported(ChatRequest(MODEL, [Message("user", "Hi")], options={"n": 1}), stream=True)
        == set()
    )
    with pytest.raises(ProviderError) as info:
        [c async for c in adapter.stream(request, timeout=5)]
    assert (info.value.kind, info.value.retryable) == ("bad_request", False)
    assert emulator.requests("gemini") == []


def _everything(**changes: Any) -> ChatRequest:
    image = ImagePart("data:image/png;base64,iVBORw0KGgo=")
    fields: dict[str, Any] = {
        "model": MODEL,
        "messages": [Message("user", "Hi", parts=(TextPart("Hi"), image))],
        "tools": [ToolSpec("ping")],
        "tool_choice": ToolChoice("function", "ping"),
        "response_format": ResponseFormat("json_schema", {"type": "object"}),
        "reasoning_effort": "high",
        "options": {"seed": 1, "presence_penalty": 0.1, "frequency_penalty": 0.1, "n": 2},
        **changes,
    }
    return ChatRequest(**fields)


def test_supported_features(make_adapter):
    adapter = make_adapter("gemini")

    assert adapter.supported_features == {
        "tools",
        "tool_choice",
        "image_url",
        "response_format.json_object",
        "response_format.json_schema",
        "reasoning_effort",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "n",
    }
    assert adapter.unsupported(_everything()) == set()
    assert adapter.unsupported(_everything(response_format=ResponseFormat("json_object"))) == set()


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"parallel_tool_calls": False}, {"parallel_tool_calls"}),
        ({"parallel_tool_calls": True}, set()),
        ({"options": {"logprobs": True, "top_logprobs": 2}}, {"logprobs", "top_logprobs"}),
        (
            {"options": {"metadata": {"a": "b"}, "service_tier": "flex", "logit_bias": {"1": 5}, "seed": 3}},
            {"metadata", "service_tier", "logit_bias"},
        ),
    ],
    ids=["parallel-off", "parallel-on", "logprobs", "openai-only-options"],
)
def test_unsupported_features(make_adapter, changes, missing):
    assert make_adapter("gemini").unsupported(_everything(**changes)) == missing


async def test_dropping_unsupported_features_leaves_them_out_of_the_body(make_adapter, emulator):
    adapter = make_adapter("gemini")
    request = _tools_request(parallel_tool_calls=False, options={"logprobs": True, "seed": 7})

    await _complete(make_adapter, emulator, request.without(adapter.unsupported(request)))

    sent = _sent(emulator)
    assert sent["generationConfig"] == {"maxOutputTokens": 1024, "seed": 7}
    assert "parallel_tool_calls" not in json.dumps(sent) and "logprobs" not in json.dumps(sent)


async def test_whole_request_body(make_adapter, emulator):
    request = _everything(model="gemini-3-pro-preview", options={"seed": 1})
    await _complete(make_adapter, emulator, request)

    assert _sent(emulator) == {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "Hi"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}],
            }
        ],
        "generationConfig": {
            "seed": 1,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"},
        },
        "tools": [{"functionDeclarations": [{"name": "ping"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["ping"]}},
    }
