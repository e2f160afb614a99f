"""The Anthropic door's pure functions, round-tripping the reference fixtures: request bodies into the
internal request (and unchanged into `native`), answers back into Messages responses and events the
anthropic SDK reads."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from anthropic._models import construct_type
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as AnthropicMessage

from core.errors import shaped_error_body
from providers.adapters.anthropic.adapter import AnthropicAdapter
from providers.adapters.base import ProviderConfig
from providers.adapters.messages import ChatRequest, ImagePart, ReasoningPart, ToolCall, ToolChoice
from providers.adapters.results import ChatChunk, ToolCallDelta, Usage
from routing.completions import CompletionResult
from routing.doors.anthropic_messages.render import messages_response_render, usage_render
from routing.doors.anthropic_messages.request import messages_request_parse, snapshot_base
from routing.doors.anthropic_messages.stream import MessagesStreamRenderer
from routing.doors.anthropic_messages.tokens import messages_tokens_estimate
from routing.doors.anthropic_messages.validation import MessagesError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "provider_formats" / "anthropic"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def sse_events(raw: bytes | str) -> list[dict]:
    """The JSON of each event of an SSE body, checking that `event:` names the JSON's type."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads(next(line[6:] for line in lines if line.startswith("data: ")))
        assert data["type"] == name
        events.append(data)
    return events


def adapter() -> AnthropicAdapter:
    return AnthropicAdapter(ProviderConfig("anthropic", "anthropic", None, "sk-ant-test"))


def result_from(response_fixture: str, *, native: bool = False) -> CompletionResult:
    """A fixture response read by the Anthropic adapter, as the routing layer hands it to a door."""
    raw = fixture(response_fixture)
    response = adapter()._response_from(construct_type(type_=AnthropicMessage, value=raw))
    return CompletionResult(
        content=response.content,
        model=response.model,
        provider="anthropic",
        usage=response.usage,
        finish_reason=response.finish_reason,
        cost_usd=Decimal("0"),
        latency_ms=1.0,
        attempts=[],
        cache_hit=False,
        response_id=response.response_id,
        tool_calls=response.tool_calls,
        reasoning=response.reasoning_text,
        native=raw if native else None,
    )


# ------------------------------------------------------------------------------------ requests


def test_plain_request():
    body = fixture("messages-request.json")
    parsed = messages_request_parse(body, headers={"anthropic-version": "2023-06-01", "x-other": "1"})
    assert [(m.role, m.content) for m in parsed.messages] == [
        ("system", body["system"]),
        ("user", "What is the capital of France?"),
    ]
    assert (parsed.model, parsed.max_tokens, parsed.stop, parsed.stream) == (
        "claude-sonnet-4-6",
        256,
        ("\n\nUser:",),
        False,
    )
    assert parsed.native == {
        "protocol": "anthropic",
        "body": body,
        "headers": {"anthropic-version": "2023-06-01"},
        "beta": False,
        "requires": [],
    }


def test_only_known_api_versions_are_passed_on():
    body = fixture("messages-request.json")
    headers = {"Anthropic-Version": "2099-01-01", "anthropic-beta": "a,b"}
    assert messages_request_parse(body, headers=headers).native["headers"] == {"anthropic-beta": "a,b"}


def test_tools_and_tool_choice():
    body = fixture("tools-request.json")
    parsed = messages_request_parse(body)
    assert [t.name for t in parsed.tools] == ["get_current_weather", "get_local_time"]
    assert parsed.tools[0].parameters == body["tools"][0]["input_schema"]
    assert parsed.tool_choice == ToolChoice("auto") and parsed.parallel_tool_calls is None
    forced = messages_request_parse(fixture("tools-request-forced.json"))
    assert forced.tool_choice == ToolChoice("function", "get_current_weather")
    assert forced.parallel_tool_calls is False


def test_tool_follow_up_becomes_assistant_calls_and_tool_messages():
    body = fixture("tools-followup-request.json")
    parsed = messages_request_parse(body)
    roles = [m.role for m in parsed.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    assistant = parsed.messages[2]
    assert assistant.content == "I'll check the current weather and the local time in Paris."
    assert [c.id for c in assistant.tool_calls] == [
        "toolu_0176zrzn2gW1LIqRDGc7THdl",
        "toolu_01H09XobBVXLb6WRlMZeGgtF",
    ]
    assert json.loads(assistant.tool_calls[0].arguments) == body["messages"][1]["content"][1]["input"]
    assert [m.tool_call_id for m in parsed.messages[3:]] == [c.id for c in assistant.tool_calls]
    assert parsed.messages[4].content == body["messages"][2]["content"][1]["content"][0]["text"]


def test_thinking_replay_becomes_anthropic_reasoning():
    body = fixture("thinking-followup-request.json")
    parsed = messages_request_parse(body)
    assert parsed.reasoning_effort == "medium"  # adaptive, with output_config.effort
    (part,) = parsed.messages[2].reasoning
    block = body["messages"][1]["content"][0]
    assert part == ReasoningPart(block["thinking"], signature=block["signature"], protocol="anthropic")
    assert messages_request_parse(fixture("thinking-request.json")).reasoning_effort == "medium"
    budget = {
        **fixture("messages-request.json"),
        "max_tokens": 20000,
        "thinking": {"type": "enabled", "budget_tokens": 16384},
    }
    assert messages_request_parse(budget).reasoning_effort == "high"
    unsigned = {
        **body,
        "messages": [
            body["messages"][0],
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": ""},
                    *body["messages"][1]["content"][1:],
                ],
            },
            body["messages"][2],
        ],
    }
    assert messages_request_parse(unsigned).messages[2].reasoning == (ReasoningPart("hm"),)


def test_images_become_image_parts():
    body = fixture("image-request.json")
    (user,) = messages_request_parse(body).messages
    source = body["messages"][0]["content"][0]["source"]
    assert user.images == (
        ImagePart(f"data:image/png;base64,{source['data']}"),
        ImagePart("https://example.com/images/paris-street.jpg"),
    )
    assert user.content.startswith("Compare these two images")


def test_cache_marks_pass_through_and_are_hints_elsewhere():
    body = fixture("cache-request.json")
    parsed = messages_request_parse({**body, "cache_control": {"type": "ephemeral"}, "service_tier": "auto"})
    assert parsed.native["body"]["tools"][1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert parsed.native["body"]["system"][1]["cache_control"] == {"type": "ephemeral"}
    assert parsed.native["requires"] == []  # cache marks are cost hints: other providers may answer
    assert parsed.messages[0].content.startswith("You are a travel assistant.")
    assert ChatRequest("m", list(parsed.messages), native=parsed.native).features() == set()


def test_structured_output():
    body = fixture("structured-request.json")
    parsed = messages_request_parse(body)
    assert parsed.response_format.type == "json_schema"
    assert parsed.response_format.schema == body["output_config"]["format"]["schema"]


def test_what_only_anthropic_can_carry_is_required():
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "container": "container_1",
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}},
                    {"type": "text", "text": "Summarise"},
                ],
            },
            {"role": "assistant", "content": "The document says"},
        ],
    }
    parsed = messages_request_parse(body, beta=True, headers={"anthropic-beta": "files-api-2025-04-14"})
    assert parsed.native["requires"] == [
        "container",
        "content.document",
        "messages.prefill",
        "tools.web_search_20250305",
    ]
    assert parsed.native["beta"] is True and parsed.native["headers"] == {
        "anthropic-beta": "files-api-2025-04-14"
    }
    request = ChatRequest("m", list(parsed.messages), native=parsed.native)
    assert set(parsed.native["requires"]) <= request.features()
    assert adapter().unsupported(request) == set()  # Anthropic takes its own request as is


def test_routing_controls_are_the_gateways_and_not_passed_on():
    body = {**fixture("messages-request.json"), "provider": {"only": ["openai"]}}
    parsed = messages_request_parse(body)
    assert parsed.route.only == ("openai",)
    assert "provider" not in parsed.native["body"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"temprature": 0.5}, "temprature: Extra inputs are not permitted"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]}
                ]
            },
            "messages.0.content.0.type",
        ),
        (
            {"messages": [{"role": "assistant", "content": [{"type": "image", "source": {}}]}]},
            "messages.0.content.0.type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/bmp", "data": "AA"},
                            }
                        ],
                    }
                ]
            },
            "media_type",
        ),
        ({"tools": [{"name": "x", "input_schema": {"type": "object"}, "function": {}}]}, "tools.0.function"),
        ({"tools": [{"type": "function", "name": "x"}]}, "tools.0.type"),
        ({"tool_choice": {"type": "tool", "name": "missing"}, "tools": []}, "tool_choice"),
        ({"thinking": {"type": "enabled", "budget_tokens": 100}}, "greater than or equal to 1024"),
        ({"temperature": 1.5}, "temperature"),
        ({"metadata": {"user": "x"}}, "metadata.user"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_bad_input(change, message):
    body = {**fixture("messages-request.json"), **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(MessagesError) as caught:
        messages_request_parse(body)
    assert message in caught.value.message


def test_tool_results_must_answer_the_calls_right_before():
    body = fixture("tools-followup-request.json")
    results = body["messages"][2]
    missing_one = {
        **body,
        "messages": [*body["messages"][:2], {**results, "content": results["content"][:1]}],
    }
    with pytest.raises(MessagesError, match="Did not find 1 tool_result"):
        messages_request_parse(missing_one)
    text_first = {
        **body,
        "messages": [
            *body["messages"][:2],
            {**results, "content": [{"type": "text", "text": "x"}, *results["content"]]},
        ],
    }
    with pytest.raises(MessagesError, match="Did not find 2 tool_result"):
        messages_request_parse(text_first)
    # consecutive user turns are one turn, as Anthropic combines them
    split = {
        **body,
        "messages": [
            *body["messages"][:2],
            {"role": "user", "content": results["content"][:1]},
            {"role": "user", "content": results["content"][1:]},
        ],
    }
    assert [m.role for m in messages_request_parse(split).messages][-2:] == ["tool", "tool"]


def test_count_tokens_body():
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "Hi"}], "system": "S"}
    parsed = messages_request_parse(body, count=True)
    assert parsed.max_tokens is None
    with pytest.raises(MessagesError, match="max_tokens: Extra inputs"):
        messages_request_parse({**body, "max_tokens": 5}, count=True)


def test_estimate():
    body = {"messages": [{"role": "user", "content": "x" * 400}]}
    assert messages_tokens_estimate(body) == 100 + 4
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 9999}}
    with_image = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "y" * 40}]}]}
    assert messages_tokens_estimate(with_image) == 1600 + 10 + 4


def test_snapshot_names():
    assert snapshot_base("claude-haiku-4-5-20251001") == "claude-haiku-4-5"
    assert snapshot_base("claude-sonnet-4-6-latest") == "claude-sonnet-4-6"
    assert snapshot_base("gpt-4o-mini") is None


# ------------------------------------------------------------------------------------ answers


@pytest.mark.parametrize(
    "name",
    [
        "messages-response.json",
        "tools-response-parallel.json",
        "thinking-response.json",
        "cache-response.json",
    ],
)
def test_translated_answer_round_trips_the_fixture(name):
    """An answer read into the internal result and rendered back: the blocks, stop reason and usage
    the fixture had (a thinking signature only survives the pass-through path)."""
    raw = fixture(name)
    body = messages_response_render(result_from(name), message_id="msg_1")
    message = construct_type(type_=AnthropicMessage, value=body)
    assert message.stop_reason == raw["stop_reason"]
    expected = [
        {k: v for k, v in block.items() if k not in ("caller", "signature")} for block in raw["content"]
    ]
    got = [{k: v for k, v in block.items() if k != "signature"} for block in body["content"]]
    assert got == expected
    for key in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"):
        assert body["usage"][key] == raw["usage"][key], key
    assert body["usage"]["cache_creation"] == raw["usage"]["cache_creation"]


def test_anthropics_own_answer_is_returned_as_sent():
    raw = fixture("thinking-response.json")
    assert messages_response_render(result_from("thinking-response.json", native=True), message_id="x") == raw


def test_usage_without_cache_reads_and_writes_in_input_tokens():
    usage = Usage(
        prompt_tokens=1000,
        completion_tokens=50,
        cached_tokens=600,
        cache_write_tokens=300,
        cache_write_1h_tokens=100,
        reasoning_tokens=20,
    )
    assert usage_render(usage) == {
        "input_tokens": 100,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 600,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100},
        "output_tokens": 50,
        "output_tokens_details": {"thinking_tokens": 20},
    }


def _accumulate(events: list[dict]):
    snapshot, buffers = None, {}
    for event in events:
        if event["type"] == "ping":
            continue
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    return snapshot


def test_forwarded_stream_is_anthropics_own():
    events = sse_events((FIXTURES / "thinking-stream.sse").read_text())
    renderer = MessagesStreamRenderer(message_id="msg_x", model="claude-sonnet-4-6")
    out = b"".join(
        b"".join(renderer.chunk(ChatChunk(native=event))) for event in events if event["type"] != "ping"
    )
    out += b"".join(renderer.finish(finish_reason="tool_calls", usage=Usage()))
    assert [e for e in sse_events(out) if e["type"] != "ping"] == [e for e in events if e["type"] != "ping"]


def test_translated_stream_reads_as_a_message():
    renderer = MessagesStreamRenderer(message_id="msg_x", model="gemini-2.5-flash")
    chunks = [
        ChatChunk(model="gemini-2.5-flash"),
        ChatChunk(reasoning="Thinking about"),
        ChatChunk(reasoning=" Paris."),
        ChatChunk(delta="Let me check."),
        ChatChunk(tool_call_deltas=[ToolCallDelta(0, id="call_1", name="get_local_time")]),
        ChatChunk(tool_call_deltas=[ToolCallDelta(0, arguments='{"timezone":')]),
        ChatChunk(
            tool_call_deltas=[ToolCallDelta(1, id="call_2", name="get_current_weather", arguments="{}")]
        ),
        ChatChunk(tool_call_deltas=[ToolCallDelta(0, arguments=' "Europe/Paris"}')]),
    ]
    out = b"".join(b"".join(renderer.chunk(c)) for c in chunks)
    usage = Usage(prompt_tokens=120, completion_tokens=40, cached_tokens=20, reasoning_tokens=10)
    out += b"".join(
        renderer.finish(
            finish_reason="tool_calls",
            usage=usage,
            reasoning_parts=[ReasoningPart("Thinking about Paris.", protocol="gemini")],
        )
    )
    events = sse_events(out)
    assert [e["type"] for e in events[:2]] == ["message_start", "ping"]
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    starts = [e for e in events if e["type"] == "content_block_start"]
    stops = [e["index"] for e in events if e["type"] == "content_block_stop"]
    assert [s["index"] for s in starts] == [0, 1, 2, 3] and stops == [0, 1, 2, 3]
    message = _accumulate(events)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].thinking == "Thinking about Paris." and message.content[0].signature == ""
    assert message.content[2].input == {"timezone": "Europe/Paris"} and message.content[3].input == {}
    assert (message.content[2].id, message.content[3].name) == ("call_1", "get_current_weather")
    assert message.stop_reason == "tool_use"
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (
        100,
        20,
        40,
    )


def test_a_signature_from_the_terminal_chunk_closes_an_open_thinking_block():
    renderer = MessagesStreamRenderer(message_id="msg_x", model="claude-haiku-4-5")
    out = b"".join(renderer.chunk(ChatChunk(reasoning="hm")))
    out += b"".join(
        renderer.finish(
            finish_reason="stop",
            usage=None,
            reasoning_parts=[ReasoningPart("hm", signature="sig", protocol="anthropic")],
        )
    )
    message = _accumulate(sse_events(out))
    assert (message.content[0].thinking, message.content[0].signature) == ("hm", "sig")


def test_non_stream_translation_of_tool_calls_and_reasoning():
    result = result_from("messages-response.json")
    result.tool_calls = [
        ToolCall("call_1", "get_local_time", '{"timezone": "Europe/Paris"}'),
        ToolCall("c2", "f", "not json"),
    ]
    result.reasoning = "Because."
    result.finish_reason = "tool_calls"
    body = messages_response_render(result, message_id="msg_1")
    assert [b["type"] for b in body["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert body["content"][2]["input"] == {"timezone": "Europe/Paris"} and body["content"][3]["input"] == {}
    assert body["stop_reason"] == "tool_use" and body["id"] == "msg_1"
    omitted = messages_response_render(result, message_id="msg_1", thinking_omitted=True)
    assert [b["type"] for b in omitted["content"]][0] == "text"


# ------------------------------------------------------------------------------------- errors


def test_errors_under_v1_messages_are_in_anthropics_shape():
    body = {
        "error": "max_tokens: Field required",
        "error_code": "VALIDATION_ERROR",
        "timestamp": "t",
        "request_id": "r1",
        "context": {"param": "max_tokens"},
    }
    shaped = shaped_error_body("/v1/messages", body, 400)
    assert shaped == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "max_tokens: Field required",
            "details": {"error_code": "validation_error"},
            "context": {"param": "max_tokens"},
        },
        "request_id": "r1",
    }
    for status, kind in (
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (429, "rate_limit_error"),
        (402, "billing_error"),
        (503, "api_error"),
    ):
        assert shaped_error_body("/v1/messages/count_tokens", body, status)["error"]["type"] == kind
    assert "type" in shaped_error_body("/v1/chat/completions", body, 400)["error"]  # OpenAI's shape stays
