"""The Responses door's pure functions: parsing into the internal request, rendering answers and
streams, checked against the official SDK's Responses types and its stream accumulator."""

from __future__ import annotations

import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from providers.adapters.messages import ReasoningPart, ToolCall, ToolChoice
from providers.adapters.results import ToolCallDelta, Usage
from routing.doors.common import DoorError
from routing.doors.openai_responses.render import ResponseShape, response_render
from routing.doors.openai_responses.request import responses_request_parse
from routing.doors.openai_responses.stream import ResponseStreamRenderer

EVENTS = TypeAdapter(ResponseStreamEvent)
TOOL = {"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": False}


def parse(**body):
    return responses_request_parse({"model": "gpt-4o-mini", "input": "Hi", **body})


def test_string_input_and_instructions():
    parsed = parse(instructions="Be brief.", max_output_tokens=50, temperature=0.2)
    assert [(m.role, m.content) for m in parsed.chat.messages] == [("system", "Be brief."), ("user", "Hi")]
    assert parsed.chat.max_tokens == 50 and parsed.chat.temperature == 0.2


def test_items_become_messages_with_tool_calls_and_results():
    parsed = parse(
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Look it up"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "hm"}]},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Sure.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "lookup", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_b", "name": "lookup", "arguments": "{\"q\":1}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "A"},
            {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "B"}]},
        ],
        tools=[TOOL],
    )
    user, assistant, result_a, result_b = parsed.chat.messages
    assert user.content == "Look it up"
    assert assistant.role == "assistant" and assistant.content == "Sure."
    assert assistant.reasoning == (ReasoningPart("hm"),)
    assert assistant.tool_calls == (
        ToolCall("call_a", "lookup", "{}"),
        ToolCall("call_b", "lookup", '{"q":1}'),
    )
    assert (result_a.role, result_a.tool_call_id, result_a.content) == ("tool", "call_a", "A")
    assert (result_b.tool_call_id, result_b.content) == ("call_b", "B")


def test_text_format_reasoning_and_tool_choice():
    parsed = parse(
        tools=[TOOL, {**TOOL, "name": "other"}],
        tool_choice={"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "other"}]},
        text={"format": {"type": "json_schema", "name": "Out", "schema": {"type": "object"}, "strict": True},
              "verbosity": "low"},
        reasoning={"effort": "high", "summary": "auto"},
    )
    chat = parsed.chat
    assert [t.name for t in chat.tools] == ["other"] and chat.tool_choice == ToolChoice("required")
    assert chat.response_format.type == "json_schema" and chat.response_format.name == "Out"
    assert chat.reasoning_effort == "high" and chat.options == {"verbosity": "low"}
    assert [t["name"] for t in parsed.tools] == ["lookup", "other"]  # the Response lists every tool


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id", "unsupported_parameter"),
        ({"store": True}, "store", "unsupported_parameter"),
        ({"tools": [{"type": "web_search_preview"}]}, "tools[0].type", "unsupported_parameter"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice.type", "unsupported_parameter"),
        ({"include": ["reasoning.encrypted_content"]}, "include", "unsupported_parameter"),
        ({"truncation": "auto"}, "truncation", "unsupported_parameter"),
        ({"background": True}, "background", "unsupported_parameter"),
        ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
         "input[0].content[0].type", "unsupported_parameter"),
        ({"input": [{"type": "function_call_output", "call_id": "x", "output": "1"}]}, "input[0].call_id",
         "invalid_request"),
        ({"nope": 1}, "nope", "unknown_parameter"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort", "invalid_request"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", "invalid_request"),
    ],
)
def test_refusals_name_the_parameter(body, param, code):
    with pytest.raises(DoorError) as caught:
        parse(**body)
    assert caught.value.param == param and caught.value.code == code


def test_rendered_response_is_an_sdk_response():
    shape = ResponseShape(parse(tools=[TOOL], metadata={"k": "v"}))
    body = response_render(
        shape,
        model="claude-haiku-4-5",
        provider="anthropic",
        content="",
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=10, completion_tokens=5, reasoning_tokens=2, cached_tokens=3),
        tool_calls=[ToolCall("toolu_1", "lookup", "{}")],
        reasoning="thinking",
    )
    response = Response.model_validate(body)
    assert [item.type for item in response.output] == ["reasoning", "function_call"]
    assert response.usage.input_tokens_details.cached_tokens == 3
    assert response.usage.output_tokens_details.reasoning_tokens == 2
    assert response.metadata == {"k": "v"} and response.store is False


def _accumulate(events):
    """Feed raw events through the SDK's own stream state, as `responses.stream` does."""
    state = ResponseStreamState(input_tools=[TOOL], text_format=omit)
    for raw in events:
        state.handle_event(EVENTS.validate_python(raw))
    return state._completed_response


def test_stream_renderer_reasoning_text_and_calls():
    renderer = ResponseStreamRenderer(ResponseShape(parse(tools=[TOOL])), model="m", provider="p")
    events = renderer.start()
    events += renderer.chunk(reasoning="Let me ")
    events += renderer.chunk(reasoning="think.")
    events += renderer.chunk(delta="Calling ")
    events += renderer.chunk(delta="now.")
    events += renderer.chunk(tool_call_deltas=[ToolCallDelta(0, "call_1", "lookup", '{"q"')])
    events += renderer.chunk(tool_call_deltas=[ToolCallDelta(0, None, None, ":1}")])
    events += renderer.finish(
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=4, completion_tokens=6),
        tool_calls=[ToolCall("call_1", "lookup", '{"q":1}')],
    )
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = _accumulate(events)
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    assert final.output_text == "Calling now."
    assert final.output[0].content[0].text == "Let me think."
    assert final.output[2].arguments == '{"q":1}' and final.output[2].call_id == "call_1"
    assert final.usage.total_tokens == 10


def test_stream_renderer_whole_calls_at_the_end_and_cut_answers():
    renderer = ResponseStreamRenderer(ResponseShape(parse()), model="m", provider="p")
    events = renderer.start() + renderer.finish(
        finish_reason="tool_calls", usage=None, tool_calls=[ToolCall("c1", "lookup", "{}")]
    )
    assert _accumulate(events).output[0].name == "lookup"

    renderer = ResponseStreamRenderer(ResponseShape(parse()), model="m", provider="p")
    events = renderer.start() + renderer.chunk(delta="Once upon") + renderer.finish(
        finish_reason="length", usage=Usage(1, 1), tool_calls=[]
    )
    for event in events:
        EVENTS.validate_python(event)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stream_renderer_failure():
    renderer = ResponseStreamRenderer(ResponseShape(parse()), model="m", provider="p")
    events = renderer.start() + renderer.chunk(delta="Half") + renderer.fail("boom")
    for event in events:
        EVENTS.validate_python(event)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": "boom"}
