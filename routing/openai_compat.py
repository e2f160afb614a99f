"""OpenAI's wire format at /v1: POST /v1/chat/completions (streaming included) and GET /v1/models,
so the official OpenAI SDKs (and clients built on them) work with only `base_url` changed.

Parsing and rendering are the pure functions of `routing.doors.openai_chat`; this module wires them
to admission, routing and charging."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from access.api_views import ClientKeyApiView
from core.errors import openai_error_body
from providers.adapters.errors import ProviderError
from routing.admission import Admitted, completion_answer, completion_stream_answer
from routing.api_docs import HELLO, request_examples
from routing.api_support import (
    DROP_PARAMS_HEADER,
    DROP_PARAMS_PARAMETER,
    OPENAI_ERRORS,
    answer_headers,
    answer_schema,
    chat_command,
    door_error,
    dropped_headers,
    stream_error_body,
    stream_response,
)
from routing.completions import CompletionResult
from routing.doors.common import REASONING_EFFORTS, DoorError
from routing.doors.openai_chat.render import assistant_message, usage_body
from routing.doors.openai_chat.request import chat_request_parse
from routing.doors.wire import sse_data
from routing.selectors import model_public_names
from routing.streams import CompletionStream


class ChatCompletionInputSerializer(serializers.Serializer):
    """The documented request (validation is `routing.doors.openai_chat.request.chat_request_parse`, which
    refuses any field it does not know)."""

    model = serializers.CharField(
        help_text="A catalogue model or alias; `provider/model` (e.g. `anthropic/claude-haiku-4-5`) "
        "pins the request to that provider."
    )
    messages = serializers.ListField(
        child=serializers.DictField(),
        help_text="system, developer, user (text and `image_url` parts), assistant (with `tool_calls`, "
        "`content` may be null) and tool (`tool_call_id`) messages.",
    )
    tools = serializers.ListField(child=serializers.DictField(), required=False, help_text="Function tools.")
    tool_choice = serializers.JSONField(required=False, help_text="auto, none, required or a named function.")
    parallel_tool_calls = serializers.BooleanField(required=False)
    response_format = serializers.DictField(
        required=False, help_text="`json_object`, or `json_schema` with a schema (Structured Outputs)."
    )
    reasoning_effort = serializers.ChoiceField(choices=REASONING_EFFORTS, required=False)
    temperature = serializers.FloatField(required=False, min_value=0.0, max_value=2.0)
    top_p = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1)
    stop = serializers.JSONField(required=False, help_text="A string or up to four.")
    stream = serializers.BooleanField(required=False)
    stream_options = serializers.DictField(required=False, help_text="`include_usage`.")
    n = serializers.IntegerField(required=False, min_value=1, max_value=128)
    seed = serializers.IntegerField(required=False)
    logprobs = serializers.BooleanField(required=False)
    top_logprobs = serializers.IntegerField(required=False, min_value=0, max_value=20)
    presence_penalty = serializers.FloatField(required=False, min_value=-2.0, max_value=2.0)
    frequency_penalty = serializers.FloatField(required=False, min_value=-2.0, max_value=2.0)
    logit_bias = serializers.DictField(required=False)
    metadata = serializers.DictField(required=False)
    service_tier = serializers.CharField(required=False)
    store = serializers.BooleanField(required=False)
    user = serializers.CharField(required=False)
    prompt_cache_key = serializers.CharField(required=False)
    safety_identifier = serializers.CharField(required=False)
    verbosity = serializers.ChoiceField(choices=("low", "medium", "high"), required=False)
    provider = serializers.DictField(
        required=False,
        help_text="Routing controls (what OpenAI SDKs send in `extra_body`): `order` (providers to try "
        "first, in order), `only` (allow list), `ignore` (deny list), `allow_fallbacks` (false: no "
        "fallback models, and with `order` no other providers), `sort` (`price` or `latency`).",
    )


class ChatCompletionsApi(ClientKeyApiView):
    """OpenAI-compatible chat completions: tools, structured output, images and reasoning on
    every provider that can take them."""

    @extend_schema(
        request=ChatCompletionInputSerializer,
        responses=answer_schema(
            "ChatCompletion",
            stream=(
                "With `stream: true`: `data: {chat.completion.chunk}` lines, then `data: [DONE]`; a "
                "failure mid-stream is a `data: {\"error\": {...}}` chunk."
            ),
            errors=OPENAI_ERRORS,
            id=str, object=str, created=int, model=str, choices=list, usage=dict, provider=str,
        ),
        examples=request_examples(
            answer={"model": "gpt-4o-mini", "messages": HELLO},
            streamed={"model": "gpt-4o-mini", "messages": HELLO, "stream": True},
        ),
        parameters=[DROP_PARAMS_PARAMETER],
        tags=["openai-compatible"],
        description=(
            "Errors come in OpenAI's shape (`{\"error\": {\"message\", \"type\", \"param\", \"code\"}}`). "
            "A parameter no candidate provider supports is a 400 `unsupported_parameter` unless "
            f"`{DROP_PARAMS_HEADER}: true` is sent; unknown fields are a 400 `unknown_parameter`."
        ),
    )
    async def post(self, request):
        try:
            chat = chat_request_parse(request.data)
        except DoorError as error:
            raise door_error(error) from None
        cmd = chat_command(request, chat)
        completion_id = f"chatcmpl-{request.request_id}"
        created = int(time.time())
        if chat.stream:
            admitted = await completion_stream_answer(key=request.auth, cmd=cmd)
            return _stream(admitted, request, completion_id, created, chat.include_usage)
        admitted = await completion_answer(key=request.auth, cmd=cmd)
        body = _completion_body(admitted.answer, completion_id=completion_id, created=created)
        return Response(body, headers=answer_headers(admitted.answer, admitted.limit_headers))


def _completion_body(result: CompletionResult, *, completion_id: str, created: int) -> dict:
    """The `chat.completion` object."""
    choices = [
        {
            "index": 0,
            "message": assistant_message(
                result.content, result.tool_calls, refusal=result.refusal, reasoning=result.reasoning
            ),
            "logprobs": result.logprobs,
            "finish_reason": result.finish_reason,
        }
    ]
    for index, choice in enumerate(result.more_choices, start=1):
        choices.append(
            {
                "index": index,
                "message": assistant_message(choice.content, choice.tool_calls),
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
        )
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": result.model,
        "choices": choices,
        "usage": usage_body(result.usage),
        "system_fingerprint": None,
        "provider": result.provider,
    }


def _stream(
    admitted: Admitted[CompletionStream], request, completion_id: str, created: int, include_usage: bool
):
    """The `chat.completion.chunk` stream."""
    stream = admitted.answer

    def chunk(delta: dict, finish_reason=None, usage=None, choices=True) -> dict:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": stream.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
            if choices
            else [],
        }
        if include_usage:
            body["usage"] = usage
        return body

    async def events() -> AsyncIterator[bytes]:
        yield sse_data(chunk({"role": "assistant", "content": ""}))
        announced: set[int] = set()
        try:
            async for piece in stream.chunks():
                if piece.reasoning:
                    yield sse_data(chunk({"reasoning_content": piece.reasoning}))
                if piece.delta:
                    yield sse_data(chunk({"content": piece.delta}))
                if piece.tool_call_deltas:
                    calls = _tool_call_deltas(piece.tool_call_deltas, announced)
                    yield sse_data(chunk({"tool_calls": calls}))
        except ProviderError as error:
            yield sse_data(openai_error_body(stream_error_body(request, error), 502))
            return
        yield sse_data(chunk({}, finish_reason=stream.finish_reason or "stop"))
        usage = stream.usage
        if include_usage and usage is not None:
            yield sse_data(chunk({}, usage=usage_body(usage), choices=False))
        yield b"data: [DONE]\n\n"

    return stream_response(stream, events(), {**admitted.limit_headers, **dropped_headers(stream.dropped)})


def _tool_call_deltas(deltas, announced: set[int]) -> list[dict]:
    """Tool-call deltas as OpenAI streams them: a call's id, type and name only in its first delta."""
    calls = []
    for item in deltas:
        call: dict = {"index": item.index}
        if item.index not in announced:
            announced.add(item.index)
            call.update(id=item.id, type="function")
            call["function"] = {"name": item.name, "arguments": item.arguments}
        else:
            call["function"] = {"arguments": item.arguments}
        calls.append(call)
    return calls


class OpenAIModelListApi(ClientKeyApiView):
    """OpenAI-compatible model list: every public model name the gateway answers to."""

    @extend_schema(
        responses={
            200: inline_serializer(
                "OpenAIModelList",
                {
                    "object": serializers.CharField(),
                    "data": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
        tags=["openai-compatible"],
    )
    async def get(self, request):
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": provider}
            for name, provider in (await model_public_names()).items()
        ]
        return Response({"object": "list", "data": data})
