"""OpenAI's Responses API at POST /v1/responses (stateless), streaming included.

Parsing and rendering are the pure functions of `routing.doors.openai_responses`; the request is
the same internal request as a chat completion, so admission (keys, model lists, rate limits,
budgets), routing and failover, translation to every provider, the response cache, usage records
and cost are exactly those of `/v1/chat/completions`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from access.api_views import ClientKeyApiView
from providers.adapters.errors import ProviderError
from routing.admission import Admitted, completion_answer, completion_stream_answer
from routing.api_docs import request_examples
from routing.api_support import (
    DROP_PARAMS_PARAMETER,
    OPENAI_ERRORS,
    answer_headers,
    answer_schema,
    chat_command,
    door_error,
    dropped_headers,
    stream_response,
)
from routing.doors.common import REASONING_EFFORTS, DoorError
from routing.doors.openai_responses.render import ResponseShape, response_render
from routing.doors.openai_responses.request import responses_request_parse
from routing.doors.openai_responses.stream import ResponseStreamRenderer
from routing.doors.wire import json_bytes
from routing.streams import CompletionStream


class ResponseCreateSerializer(serializers.Serializer):
    """The documented request (validation is
    `routing.doors.openai_responses.request.responses_request_parse`, which refuses any field it does
    not know or does not carry)."""

    model = serializers.CharField(
        help_text="A catalogue model or alias; `provider/model` pins the request to that provider."
    )
    input = serializers.JSONField(
        help_text="A string, or a list of items: messages (`user` with `input_text`/`input_image` parts, "
        "`system`, `developer`, `assistant`), `function_call`, `function_call_output` and `reasoning` items."
    )
    instructions = serializers.CharField(required=False, help_text="A system message put first.")
    tools = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Function tools (`{type: function, name, description, parameters, strict}`). Built-in "
        "tools (web search, file search, computer use, ...) are refused with 400.",
    )
    tool_choice = serializers.JSONField(
        required=False, help_text="auto, none, required, `{type: function, name}` or allowed_tools."
    )
    parallel_tool_calls = serializers.BooleanField(required=False)
    text = serializers.DictField(
        required=False,
        help_text="`format`: text, json_object or json_schema (structured output); `verbosity`.",
    )
    reasoning = serializers.DictField(
        required=False, help_text=f"`effort` ({', '.join(REASONING_EFFORTS)}), `summary`."
    )
    max_output_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)
    top_p = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    stream = serializers.BooleanField(required=False)
    store = serializers.BooleanField(
        required=False, help_text="Only `false`: the gateway is stateless and keeps no responses."
    )
    metadata = serializers.DictField(required=False, help_text="Echoed on the Response object.")
    user = serializers.CharField(required=False)
    safety_identifier = serializers.CharField(required=False)
    prompt_cache_key = serializers.CharField(required=False)
    service_tier = serializers.CharField(required=False)
    provider = serializers.DictField(
        required=False,
        help_text="Routing controls, as for chat completions: `order`, `only`, `ignore`, "
        "`allow_fallbacks`, `sort`.",
    )


def sse_event(event: dict) -> bytes:
    """One Responses stream event: `event: <type>` and its JSON data, as OpenAI sends them."""
    return b"event: " + event["type"].encode() + b"\ndata: " + json_bytes(event) + b"\n\n"


class ResponsesApi(ClientKeyApiView):
    """OpenAI Responses API (stateless core), answered by any provider through the same translation
    as chat completions."""

    @extend_schema(
        request=ResponseCreateSerializer,
        responses=answer_schema(
            "ResponseObject",
            stream=(
                "With `stream: true`: the Responses events (`event:` and `data:` lines), from "
                "`response.created` to `response.completed`, `response.incomplete` or `response.failed`."
            ),
            errors=OPENAI_ERRORS,
            id=str, object=str, created_at=int, status=str, model=str, output=list, usage=dict, provider=str,
        ),
        examples=request_examples(
            answer={"model": "gpt-4o-mini", "input": "Hello"},
            streamed={"model": "gpt-4o-mini", "input": "Hello", "stream": True},
        ),
        parameters=[DROP_PARAMS_PARAMETER],
        tags=["openai-compatible"],
        description=(
            "With `stream: true` the answer is the Responses event stream (`response.created`, "
            "`response.output_item.added`, `response.output_text.delta`, "
            "`response.function_call_arguments.delta`, `response.output_item.done`, "
            "`response.completed`; a provider failure mid-stream gives `error` and `response.failed`). "
            "`previous_response_id`, `store: true`, `conversation` and built-in tools are a 400 "
            "`unsupported_parameter`: the gateway is stateless."
        ),
    )
    async def post(self, request):
        try:
            parsed = responses_request_parse(request.data)
        except DoorError as error:
            raise door_error(error) from None
        cmd = chat_command(request, parsed.chat)
        shape = ResponseShape(parsed)
        if parsed.chat.stream:
            return _stream(await completion_stream_answer(key=request.auth, cmd=cmd), shape)
        admitted = await completion_answer(key=request.auth, cmd=cmd)
        result = admitted.answer
        body = response_render(
            shape,
            model=result.model,
            provider=result.provider,
            content=result.content,
            finish_reason=result.finish_reason,
            usage=result.usage,
            tool_calls=result.tool_calls,
            reasoning=result.reasoning,
            refusal=result.refusal,
        )
        return Response(body, headers=answer_headers(result, admitted.limit_headers))


def _stream(admitted: Admitted[CompletionStream], shape: ResponseShape):
    """The Responses event stream."""
    stream = admitted.answer
    renderer = ResponseStreamRenderer(shape, model=stream.model, provider=stream.provider)

    async def events() -> AsyncIterator[bytes]:
        for event in renderer.start():
            yield sse_event(event)
        try:
            async for piece in stream.chunks():
                for event in renderer.chunk(
                    delta=piece.delta, reasoning=piece.reasoning, tool_call_deltas=piece.tool_call_deltas
                ):
                    yield sse_event(event)
        except ProviderError as error:
            for event in renderer.fail(f"The provider failed mid-stream: {error.message}"):
                yield sse_event(event)
            return
        for event in renderer.finish(
            finish_reason=stream.finish_reason, usage=stream.usage, tool_calls=stream.tool_calls
        ):
            yield sse_event(event)

    return stream_response(stream, events(), {**admitted.limit_headers, **dropped_headers(stream.dropped)})
