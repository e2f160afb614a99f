"""The Anthropic adapter's translation of tools, structured output, images and thinking.

Each case drives the real adapter (SDK and all) over loopback against the emulator, which answers
with a recorded fixture (`replay`), so nothing here depends on the emulator's own answers. The
assertions are on the body the emulator received, compared with the fixture request, and on what
the adapter made of the fixture response.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from providers.adapters import ChatRequest, Message, ProviderError, Usage
from providers.adapters.anthropic.adapter import AnthropicAdapter
from providers.adapters.anthropic.request import takes_adaptive_thinking
from providers.adapters.base import ProviderConfig
from providers.adapters.messages import (
    ImagePart,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolSpec,
)
from providers.adapters.results import ChatChunk

from .conftest import fixture_bytes, fixture_json

PROVIDER = "anthropic"
MODEL = "claude-sonnet-4-6"
SYSTEM = "You are a travel assistant. Use the tools when you need live data."
QUESTION = "What's the weather in Paris right now, and what time is it there?"

TOOLS_REQUEST = fixture_json("anthropic/tools-request.json")
TOOLS = [
    ToolSpec(name=t["name"], description=t["description"], parameters=t["input_schema"])
    for t in TOOLS_REQUEST["tools"]
]
WEATHER_INPUT = {"location": {"city": "Paris", "country": "FR"}, "unit": "celsius"}
TIME_INPUT = {"timezone": "Europe/Paris"}
THINKING_RESPONSE = fixture_json("anthropic/thinking-response.json")
THINKING_TEXT = THINKING_RESPONSE["content"][0]["thinking"]
THINKING_SIGNATURE = THINKING_RESPONSE["content"][0]["signature"]


def _request(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model=fields.pop("model", MODEL), messages=list(messages), **fields)


def _tools_request(question: str = QUESTION, **fields: Any) -> ChatRequest:
    fields.setdefault("max_tokens", 1024)
    return _request(Message("system", SYSTEM), Message("user", question), tools=TOOLS, **fields)


def _sent(emulator) -> dict[str, Any]:
    return emulator.requests(PROVIDER)[-1]


def _as_replayed(body: dict[str, Any]) -> dict[str, Any]:
    """A fixture request as this gateway replays it: the internal model keeps no tool `caller`,
    and a tool result is the text the OpenAI client sent (a string, never a list of blocks)."""
    body = copy.deepcopy(body)
    for message in body["messages"]:
        if not isinstance(message["content"], list):
            continue
        for block in message["content"]:
            block.pop("caller", None)
            if block["type"] == "tool_result" and isinstance(block.get("content"), list):
                block["content"] = "".join(part["text"] for part in block["content"])
    return body


async def _stream(adapter, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in adapter.stream(request, timeout=5)]


def _arguments_by_index(chunks: list[ChatChunk]) -> dict[int, dict[str, Any]]:
    """Tool calls rebuilt from the deltas alone, the way an OpenAI streaming client does it."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in chunk.tool_call_deltas:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
    return calls


# ---------------------------------------------------------------- tool calling


async def test_tools_request_auto_and_parallel_answer(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/tools-response-parallel.json"))

    response = await make_adapter(PROVIDER).complete(
        _tools_request(tool_choice=ToolChoice("auto"), parallel_tool_calls=True), timeout=5
    )

    assert _sent(emulator)["body"] == TOOLS_REQUEST
    assert response.content == "I'll check the current weather and the local time in Paris."
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls == [
        ToolCall(
            "toolu_0176zrzn2gW1LIqRDGc7THdl",
            "get_current_weather",
            json.dumps(WEATHER_INPUT, separators=(",", ":")),
        ),
        ToolCall("toolu_01H09XobBVXLb6WRlMZeGgtF", "get_local_time", '{"timezone":"Europe/Paris"}'),
    ]
    assert response.usage == Usage(717, 131, 0, 0)
    assert response.provider_details["native_finish_reason"] == "tool_use"


async def test_tools_request_forced_single_call(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/tools-response.json"))
    request = _tools_request(
        "What's the weather in Paris right now?",
        tool_choice=ToolChoice("function", "get_current_weather"),
        parallel_tool_calls=False,
    )

    response = await make_adapter(PROVIDER).complete(request, timeout=5)

    assert _sent(emulator)["body"] == fixture_json("anthropic/tools-request-forced.json")
    assert response.content == ""
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name, json.loads(c.arguments)) for c in response.tool_calls] == [
        ("toolu_013nPM7VXsr4p4kbKM020E4r", "get_current_weather", WEATHER_INPUT)
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (ToolChoice("required"), None, {"type": "any"}),
        (ToolChoice("required"), False, {"type": "any", "disable_parallel_tool_use": True}),
        (ToolChoice("none"), False, {"type": "none"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (ToolChoice("auto"), False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
    ids=["required", "required-one-call", "none", "one-call-default-auto", "auto-one-call", "unset"],
)
async def test_tool_choice_mapping(make_adapter, emulator, choice, parallel, expected):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/tools-response.json"))

    await make_adapter(PROVIDER).complete(
        _tools_request(tool_choice=choice, parallel_tool_calls=parallel), timeout=5
    )

    assert _sent(emulator)["body"].get("tool_choice") == expected


async def test_tool_declaration_carries_strict_and_defaults_an_empty_schema(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))
    tools = [
        ToolSpec("get_local_time", "Local time.", TOOLS[1].parameters, strict=True),
        ToolSpec("ping"),
    ]

    await make_adapter(PROVIDER).complete(_request(Message("user", "Hi"), tools=tools), timeout=5)

    assert _sent(emulator)["body"]["tools"] == [
        {
            "name": "get_local_time",
            "description": "Local time.",
            "input_schema": TOOLS[1].parameters,
            "strict": True,
        },
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
    ]


async def test_streamed_tool_calls_are_reassembled(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/tools-stream.sse"), stream=True)

    chunks = await _stream(make_adapter(PROVIDER), _tools_request(tool_choice=ToolChoice("auto")))

    assert _sent(emulator)["body"] == {**TOOLS_REQUEST, "stream": True}
    *body, last = chunks
    assert all(c.finish_reason is None and c.usage is None and not c.tool_calls for c in body)
    assert "".join(c.delta for c in body) == "I'll check the current weather and the local time in Paris."
    # The first delta of each call brings its id and name with no arguments; later ones only fragments.
    firsts = [d for c in body for d in c.tool_call_deltas if d.id]
    assert [(d.index, d.id, d.name, d.arguments) for d in firsts] == [
        (0, "toolu_01V3p4mb3Z0esM9dXbMAAFXg", "get_current_weather", ""),
        (1, "toolu_01xu80uD4PgftQyZQo4kvbhw", "get_local_time", ""),
    ]
    assert all(d.name is None for c in body for d in c.tool_call_deltas if not d.id)
    rebuilt = _arguments_by_index(body)
    assert {i: json.loads(c["arguments"]) for i, c in rebuilt.items()} == {0: WEATHER_INPUT, 1: TIME_INPUT}

    assert last.finish_reason == "tool_calls"
    assert last.usage == Usage(717, 131, 0, 0)
    assert [(c.id, c.name) for c in last.tool_calls] == [
        ("toolu_01V3p4mb3Z0esM9dXbMAAFXg", "get_current_weather"),
        ("toolu_01xu80uD4PgftQyZQo4kvbhw", "get_local_time"),
    ]
    assert [c.arguments for c in last.tool_calls] == [rebuilt[0]["arguments"], rebuilt[1]["arguments"]]
    assert last.reasoning_parts == []


async def test_stream_cut_before_message_stop_fails(make_adapter, emulator):
    raw = fixture_bytes("anthropic/tools-stream.sse")
    emulator.emulator.replay(PROVIDER, raw[: raw.index(b"event: message_stop")], stream=True)

    with pytest.raises(ProviderError) as info:
        await _stream(make_adapter(PROVIDER), _tools_request())

    assert info.value.kind == "connection"


def _openai_conversation() -> tuple[list[Message], list[ToolSpec]]:
    """openai/tools-followup-request.json as the gateway's internal model."""
    body = fixture_json("openai/tools-followup-request.json")
    messages = []
    for m in body["messages"]:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in m.get("tool_calls", [])
        )
        messages.append(
            Message(m["role"], m["content"] or "", tool_calls=calls, tool_call_id=m.get("tool_call_id"))
        )
    tools = [
        ToolSpec(f["name"], f["description"], f["parameters"], f.get("strict"))
        for f in (t["function"] for t in body["tools"])
    ]
    return messages, tools


async def test_followup_from_an_openai_conversation_sends_tool_results_in_one_user_turn(
    make_adapter, emulator
):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))
    messages, tools = _openai_conversation()
    messages.append(Message("user", "Should I take an umbrella?"))

    response = await make_adapter(PROVIDER).complete(
        _request(*messages, tools=tools, tool_choice=ToolChoice("auto")), timeout=5
    )

    body = _sent(emulator)["body"]
    assert body["system"] == SYSTEM
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0] == {"role": "user", "content": QUESTION}
    # content null: no text block, just the calls with their arguments as objects.
    assert body["messages"][1]["content"] == [
        {
            "type": "tool_use",
            "id": "call_CBdATkcDu8Tq4iTh44Fx5Xvc",
            "name": "get_current_weather",
            "input": WEATHER_INPUT,
        },
        {
            "type": "tool_use",
            "id": "call_nPF15LsNdIZLL6YDPRIUYTcM",
            "name": "get_local_time",
            "input": TIME_INPUT,
        },
    ]
    # Both results first, in one user message, then the user's next words.
    assert body["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_CBdATkcDu8Tq4iTh44Fx5Xvc",
            "content": messages[3].content,
        },
        {
            "type": "tool_result",
            "tool_use_id": "call_nPF15LsNdIZLL6YDPRIUYTcM",
            "content": messages[4].content,
        },
        {"type": "text", "text": "Should I take an umbrella?"},
    ]
    assert [t["strict"] for t in body["tools"]] == [True, True]
    assert response.content == "The capital of France is Paris."
    assert response.finish_reason == "stop" and response.tool_calls == []


async def test_followup_matches_the_fixture(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/tools-response-parallel.json"))
    adapter = make_adapter(PROVIDER)
    first = await adapter.complete(_tools_request(tool_choice=ToolChoice("auto")), timeout=5)
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))
    followup = fixture_json("anthropic/tools-followup-request.json")
    results = followup["messages"][2]["content"]

    await adapter.complete(
        _request(
            Message("system", SYSTEM),
            Message("user", QUESTION),
            Message("assistant", first.content, tool_calls=tuple(first.tool_calls)),
            # The fixture's second result is a list of text blocks; an OpenAI client sends the text.
            Message("tool", results[0]["content"], tool_call_id=results[0]["tool_use_id"]),
            Message("tool", results[1]["content"][0]["text"], tool_call_id=results[1]["tool_use_id"]),
            tools=TOOLS,
            tool_choice=ToolChoice("auto"),
            max_tokens=1024,
        ),
        timeout=5,
    )

    assert _sent(emulator)["body"] == _as_replayed(followup)


async def test_a_user_text_before_the_tool_results_is_moved_after_them(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))
    call = ToolCall("toolu_1", "get_local_time", '{"timezone":"Europe/Paris"}')

    await make_adapter(PROVIDER).complete(
        _request(
            Message("user", QUESTION),
            Message("assistant", "", tool_calls=(call,)),
            Message("user", "(the result follows)"),
            Message("tool", "11:00", tool_call_id="toolu_1"),
            tools=TOOLS,
        ),
        timeout=5,
    )

    assert _sent(emulator)["body"]["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "11:00"},
            {"type": "text", "text": "(the result follows)"},
        ],
    }


async def test_unparsable_tool_arguments_are_refused_before_sending(make_adapter, emulator):
    call = ToolCall("call_1", "get_local_time", '{"timezone": "Europe/Pa')
    request = _request(
        Message("user", QUESTION),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "11:00", tool_call_id="call_1"),
        tools=TOOLS,
    )

    with pytest.raises(ProviderError) as info:
        await make_adapter(PROVIDER).complete(request, timeout=5)

    assert (info.value.kind, info.value.retryable) == ("bad_request", False)
    assert "call_1" in info.value.message
    assert emulator.emulator.request_count(PROVIDER) == 0


async def test_empty_tool_arguments_are_an_empty_input(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))
    call = ToolCall("call_1", "ping", "")

    await make_adapter(PROVIDER).complete(
        _request(
            Message("user", "ping"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "pong", tool_call_id="call_1"),
            tools=[ToolSpec("ping")],
        ),
        timeout=5,
    )

    assert _sent(emulator)["body"]["messages"][1]["content"][0]["input"] == {}


# ---------------------------------------------------------------- extended thinking


async def test_thinking_request_and_response(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/thinking-response.json"))

    response = await make_adapter(PROVIDER).complete(
        _tools_request(tool_choice=ToolChoice("auto"), reasoning_effort="medium", max_tokens=16000), timeout=5
    )

    assert _sent(emulator)["body"] == fixture_json("anthropic/thinking-request.json")
    assert response.reasoning == [
        ReasoningPart(THINKING_TEXT, signature=THINKING_SIGNATURE, protocol="anthropic")
    ]
    assert response.reasoning_text == THINKING_TEXT
    assert response.content == ""
    assert response.finish_reason == "tool_calls"
    assert [(c.id, json.loads(c.arguments)) for c in response.tool_calls] == [
        ("toolu_01iILHUhP2TaPelgCcQwaPHs", WEATHER_INPUT),
        ("toolu_010qF09XMD8dTmjq7iklU88R", TIME_INPUT),
    ]
    assert response.usage == Usage(731, 214, 0, 97)


async def test_thinking_stream(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/thinking-stream.sse"), stream=True)

    chunks = await _stream(
        make_adapter(PROVIDER),
        _tools_request(tool_choice=ToolChoice("auto"), reasoning_effort="medium", max_tokens=16000),
    )

    assert _sent(emulator)["body"] == {**fixture_json("anthropic/thinking-request.json"), "stream": True}
    *body, last = chunks
    assert "".join(c.reasoning for c in body) == THINKING_TEXT
    assert "".join(c.delta for c in body) == ""
    assert [p.protocol for p in last.reasoning_parts] == ["anthropic"]
    part = last.reasoning_parts[0]
    assert part.text == THINKING_TEXT
    assert part.signature and part.signature.startswith("EqTr0qk8zzmS") and part.signature.endswith("m1nQU")
    assert [(c.id, json.loads(c.arguments)) for c in last.tool_calls] == [
        ("toolu_011Z8Itb0u6V92Zpy5rbZ20B", WEATHER_INPUT),
        ("toolu_01aL1vu1PLmcTg6MhQXbWtp7", TIME_INPUT),
    ]
    assert [d.index for c in body for d in c.tool_call_deltas if d.id] == [0, 1]
    assert last.finish_reason == "tool_calls"
    assert last.usage == Usage(731, 214, 0, 97)


async def test_thinking_followup_replays_the_signed_blocks_first(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/thinking-response.json"))
    adapter = make_adapter(PROVIDER)
    settings = {
        "tools": TOOLS,
        "tool_choice": ToolChoice("auto"),
        "reasoning_effort": "medium",
        "max_tokens": 16000,
    }
    first = await adapter.complete(
        _request(Message("system", SYSTEM), Message("user", QUESTION), **settings), timeout=5
    )
    followup = fixture_json("anthropic/thinking-followup-request.json")
    results = followup["messages"][2]["content"]
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))

    await adapter.complete(
        _request(
            Message("system", SYSTEM),
            Message("user", QUESTION),
            Message(
                "assistant",
                first.content,
                tool_calls=tuple(first.tool_calls),
                # Reasoning another protocol produced cannot be verified here and is left out.
                reasoning=(ReasoningPart("deepseek thoughts", protocol="openai"), *first.reasoning),
            ),
            *(Message("tool", r["content"], tool_call_id=r["tool_use_id"]) for r in results),
            **settings,
        ),
        timeout=5,
    )

    assert _sent(emulator)["body"] == _as_replayed(followup)


async def test_redacted_thinking_round_trips(make_adapter, emulator):
    response_body = copy.deepcopy(THINKING_RESPONSE)
    response_body["content"].insert(1, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"})
    emulator.emulator.replay(PROVIDER, response_body)
    adapter = make_adapter(PROVIDER)
    first = await adapter.complete(_tools_request(reasoning_effort="high"), timeout=5)
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))

    await adapter.complete(
        _request(
            Message("user", QUESTION),
            Message(
                "assistant", "", tool_calls=tuple(first.tool_calls[:1]), reasoning=tuple(first.reasoning)
            ),
            Message("tool", "18C", tool_call_id=first.tool_calls[0].id),
            tools=TOOLS,
            reasoning_effort="high",
        ),
        timeout=5,
    )

    assert first.reasoning[1] == ReasoningPart(
        "", redacted="EmwKAhgBEgy3va3pzix/LafPsn4a", protocol="anthropic"
    )
    assert [b["type"] for b in _sent(emulator)["body"]["messages"][1]["content"]] == [
        "thinking",
        "redacted_thinking",
        "tool_use",
    ]
    assert _sent(emulator)["body"]["messages"][1]["content"][1] == {
        "type": "redacted_thinking",
        "data": "EmwKAhgBEgy3va3pzix/LafPsn4a",
    }


@pytest.mark.parametrize(
    ("effort", "expected"),
    [("minimal", "low"), ("low", "low"), ("high", "high"), ("xhigh", "xhigh"), ("max", "max")],
)
async def test_adaptive_effort_mapping(make_adapter, emulator, effort, expected):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))

    await make_adapter(PROVIDER).complete(
        _request(Message("user", "Hi"), model="claude-opus-4-7", reasoning_effort=effort), timeout=5
    )

    body = _sent(emulator)["body"]
    assert (body["thinking"], body["output_config"], body["max_tokens"]) == (
        {"type": "adaptive"},
        {"effort": expected},
        4096,
    )


@pytest.mark.parametrize(
    ("effort", "budget", "max_tokens", "sent_max"),
    [
        ("minimal", 1024, None, 1024 + 4096),
        ("low", 1024, 500, 1524),
        ("medium", 4096, 500, 4596),
        ("high", 16384, 1000, 17384),
        ("xhigh", 32000, 1000, 33000),
        ("max", 32000, 1000, 33000),
    ],
)
async def test_older_models_get_a_thinking_budget_on_top_of_max_tokens(
    make_adapter, emulator, effort, budget, max_tokens, sent_max
):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))

    await make_adapter(PROVIDER).complete(
        _request(
            Message("user", "Hi"),
            model="claude-haiku-4-5-20251001",
            reasoning_effort=effort,
            max_tokens=max_tokens,
        ),
        timeout=5,
    )

    body = _sent(emulator)["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == sent_max
    assert "output_config" not in body


async def test_reasoning_effort_none_disables_thinking(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))

    await make_adapter(PROVIDER).complete(_request(Message("user", "Hi"), reasoning_effort="none"), timeout=5)

    body = _sent(emulator)["body"]
    assert body["thinking"] == {"type": "disabled"}
    assert "output_config" not in body and body["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("model", "adaptive"),
    [
        ("claude-sonnet-4-6", True),
        ("claude-opus-4-6", True),
        ("claude-opus-4-7", True),
        ("claude-haiku-4-10", True),
        ("claude-sonnet-5", True),
        ("claude-opus-5-1-20270101", True),
        ("anthropic.claude-sonnet-4-6-v1:0", True),
        ("claude-sonnet-4-5-20250929", False),
        ("claude-haiku-4-5-20251001", False),
        ("claude-opus-4-20250514", False),  # the date is not a minor version
        ("claude-opus-4-1", False),
        ("claude-3-7-sonnet-20250219", False),
        ("my-custom-alias", False),
    ],
)
def test_which_models_think_adaptively(model, adaptive):
    assert takes_adaptive_thinking(model) is adaptive


# ---------------------------------------------------------------- structured output, images


async def test_structured_output(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/structured-response.json"))
    fixture = fixture_json("anthropic/structured-request.json")
    schema = fixture["output_config"]["format"]["schema"]

    response = await make_adapter(PROVIDER).complete(
        _request(
            Message("system", fixture["system"]),
            Message("user", fixture["messages"][0]["content"]),
            response_format=ResponseFormat("json_schema", schema=schema, name="weather_report", strict=True),
            max_tokens=512,
        ),
        timeout=5,
    )

    assert _sent(emulator)["body"] == fixture
    assert json.loads(response.content)["conditions"] == "partly_cloudy"
    assert response.finish_reason == "stop"


async def test_structured_output_with_adaptive_thinking_shares_output_config(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/structured-response.json"))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}

    await make_adapter(PROVIDER).complete(
        _request(
            Message("user", "Paris?"),
            response_format=ResponseFormat("json_schema", schema=schema),
            reasoning_effort="high",
        ),
        timeout=5,
    )

    assert _sent(emulator)["body"]["output_config"] == {
        "format": {"type": "json_schema", "schema": schema},
        "effort": "high",
    }


async def test_image_request(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))
    fixture = fixture_json("anthropic/image-request.json")
    png = fixture["messages"][0]["content"][0]["source"]["data"]
    text = fixture["messages"][0]["content"][2]["text"]
    parts = (
        ImagePart(f"data:image/png;base64,{png}"),
        ImagePart("https://example.com/images/paris-street.jpg", detail="high"),
        TextPart(text),
    )

    await make_adapter(PROVIDER).complete(
        _request(Message("user", text, parts=parts), max_tokens=300), timeout=5
    )

    assert _sent(emulator)["body"] == fixture


async def test_a_text_turn_and_an_image_turn_merge_into_blocks(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))

    await make_adapter(PROVIDER).complete(
        _request(
            Message("user", "Look:"),
            Message("user", "", parts=(ImagePart("https://example.com/a.png"), TextPart(""))),
        ),
        timeout=5,
    )

    assert _sent(emulator)["body"]["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        }
    ]


# ---------------------------------------------------------------- sampling parameters


async def test_temperature_and_top_p_pin_the_older_api_version(make_adapter, emulator):
    # No replay: the emulator itself rejects sampling parameters under 2026-10-21, so this
    # succeeding proves the pin works.
    adapter = make_adapter(PROVIDER)

    response = await adapter.complete(_request(Message("user", "Hi"), temperature=0.2, top_p=0.9), timeout=5)

    sent = _sent(emulator)
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert (sent["body"]["temperature"], sent["body"]["top_p"]) == (0.2, 0.9)
    assert response.finish_reason == "stop"

    chunks = await _stream(adapter, _request(Message("user", "Hi"), temperature=0.0))
    sent = _sent(emulator)
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["body"]["temperature"] == 0.0 and "top_p" not in sent["body"]
    assert chunks[-1].finish_reason == "stop"


async def test_without_sampling_parameters_the_sdk_version_is_kept(make_adapter, emulator):
    emulator.emulator.replay(PROVIDER, fixture_bytes("anthropic/messages-response.json"))

    await make_adapter(PROVIDER).complete(_request(Message("user", "Hi")), timeout=5)

    sent = _sent(emulator)
    assert sent["headers"]["anthropic-version"] == "2026-10-21"
    assert not {"temperature", "top_p", "top_k"} & set(sent["body"])


# ---------------------------------------------------------------- responses


async def test_refusal_is_a_content_filter(make_adapter, emulator):
    body = fixture_json("anthropic/messages-response.json")
    body.update(
        content=[],
        stop_reason="refusal",
        stop_details={"type": "refusal", "category": "cyber", "explanation": "Declined."},
    )
    emulator.emulator.replay(PROVIDER, body)

    response = await make_adapter(PROVIDER).complete(_request(Message("user", "Hi")), timeout=5)

    assert (response.content, response.finish_reason, response.refusal) == ("", "content_filter", "Declined.")


async def test_a_tool_call_cut_by_max_tokens_reports_length(make_adapter, emulator):
    body = fixture_json("anthropic/tools-response.json")
    body["stop_reason"] = "max_tokens"
    emulator.emulator.replay(PROVIDER, body)

    response = await make_adapter(PROVIDER).complete(_tools_request(), timeout=5)

    assert response.finish_reason == "length"
    assert len(response.tool_calls) == 1


# ---------------------------------------------------------------- what the adapter takes


def _adapter() -> AnthropicAdapter:
    return AnthropicAdapter(ProviderConfig(name=PROVIDER, kind=PROVIDER, base_url=None, api_key="k"))


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"tools": TOOLS, "tool_choice": ToolChoice("auto"), "parallel_tool_calls": False}, set()),
        ({"tools": TOOLS, "tool_choice": ToolChoice("required")}, set()),
        ({"tools": TOOLS, "tool_choice": ToolChoice("function", "get_local_time")}, set()),
        ({"tools": TOOLS, "tool_choice": ToolChoice("required"), "reasoning_effort": "low"}, {"tool_choice"}),
        (
            {
                "tools": TOOLS,
                "tool_choice": ToolChoice("function", "get_local_time"),
                "reasoning_effort": "max",
            },
            {"tool_choice"},
        ),
        ({"tools": TOOLS, "tool_choice": ToolChoice("required"), "reasoning_effort": "none"}, set()),
        ({"tools": TOOLS, "tool_choice": ToolChoice("auto"), "reasoning_effort": "high"}, set()),
        ({"response_format": ResponseFormat("json_schema", schema={"type": "object"})}, set()),
        ({"response_format": ResponseFormat("json_object")}, {"response_format.json_object"}),
        (
            {
                "options": {
                    "seed": 1,
                    "n": 2,
                    "logprobs": True,
                    "presence_penalty": 0.1,
                    "service_tier": "flex",
                }
            },
            {"seed", "n", "logprobs", "presence_penalty", "service_tier"},
        ),
        ({"options": {"metadata": {"a": "b"}, "frequency_penalty": 0.2}}, {"metadata", "frequency_penalty"}),
        ({"temperature": 0.3, "top_p": 0.5, "stop": ["x"], "user": "u"}, set()),
    ],
)
def test_unsupported(fields, missing):
    request = _request(Message("user", "Hi", parts=(ImagePart("https://example.com/a.png"),)), **fields)

    assert _adapter().unsupported(request) == missing


def test_dropping_the_forced_tool_makes_a_thinking_request_acceptable():
    request = _request(
        Message("user", "Hi"), tools=TOOLS, tool_choice=ToolChoice("required"), reasoning_effort="medium"
    )
    adapter = _adapter()

    assert adapter.unsupported(request.without(adapter.unsupported(request))) == set()
