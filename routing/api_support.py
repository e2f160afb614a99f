"""What the completion APIs share at the HTTP edge: the request's cache and drop-params directives,
the command built from a door's parsed request, a door's parse error as the envelope, the answer's
headers, and the streaming response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

from core.errors import ApiError, error_body
from providers.adapters.errors import ProviderError
from routing.api_docs import event_stream
from routing.commands import CompletionCommand
from routing.doors.wire import json_bytes

DROP_PARAMS_HEADER = "X-Drop-Params"
DROPPED_PARAMS_HEADER = "X-Dropped-Params"

DROP_PARAMS_PARAMETER = OpenApiParameter(
    DROP_PARAMS_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="`true`: a parameter the chosen provider cannot honour is left out instead of "
    f"refused with 400 `unsupported_parameter`; the answer names it in {DROPPED_PARAMS_HEADER}.",
)


class OpenAIErrorSerializer(serializers.Serializer):
    """OpenAI's error shape, as the OpenAI-compatible APIs answer errors."""

    error = inline_serializer(
        "OpenAIErrorObject",
        {
            "message": serializers.CharField(),
            "type": serializers.CharField(),
            "param": serializers.CharField(allow_null=True),
            "code": serializers.CharField(allow_null=True),
            "request_id": serializers.CharField(),
        },
    )


# The documented error bodies of the OpenAI-compatible APIs, by status.
OPENAI_ERRORS = {status: OpenAIErrorSerializer for status in (400, 401, 402, 403, 404, 429, 503)}


def _field(kind: Any) -> serializers.Field:
    if kind is list:
        return serializers.ListField(child=serializers.DictField())
    if kind is dict:
        return serializers.DictField()
    if kind is int:
        return serializers.IntegerField()
    return serializers.CharField(allow_null=kind is None)


def answer_schema(name: str, *, stream: str, errors: dict, **fields: Any) -> dict:
    """A view's documented `responses`: the answer object `name` (each field by its JSON type: str,
    int, dict, list of objects, or None for a string that may be null), the streamed answer
    (described by `stream`) and the error bodies by status."""
    answer = inline_serializer(name, {key: _field(kind) for key, kind in fields.items()})
    return {
        (200, "application/json"): answer,
        (200, "text/event-stream"): event_stream(stream),
        **errors,
    }


def cache_directives(request) -> tuple[bool, bool]:
    """(read the cache, write the cache), from the request's Cache-Control."""
    directives = {d.strip().lower() for d in request.headers.get("Cache-Control", "").split(",")}
    return "no-cache" not in directives, "no-store" not in directives


def key_allowed_models(request) -> tuple[str, ...]:
    """The client key's model allow-list, which routing applies to every candidate."""
    return tuple(getattr(request.auth, "allowed_models", None) or ())


def door_error(error: Any) -> ApiError:
    """A door's parse error (`message`, `code`, `param`) as the 400 envelope."""
    return ApiError(
        error.message,
        error_code=error.code.upper() if error.code != "invalid_request" else "VALIDATION_ERROR",
        status_code=400,
        context={"param": error.param} if error.param else {},
    )


def chat_command(request, chat: Any, *, model: str | None = None) -> CompletionCommand:
    """The command of a request a door parsed (OpenAI chat, Responses or Anthropic Messages, which
    share the internal request's fields); `model` when the door resolved another name to route by."""
    cache_read, cache_write = cache_directives(request)
    return CompletionCommand(
        request_id=request.request_id,
        messages=chat.messages,
        model=model or chat.model,
        temperature=chat.temperature,
        max_tokens=chat.max_tokens,
        top_p=chat.top_p,
        stop=chat.stop,
        user=chat.user,
        api_key_id=getattr(request.auth, "id", None),
        cache_read=cache_read,
        cache_write=cache_write,
        tools=chat.tools,
        tool_choice=chat.tool_choice,
        parallel_tool_calls=chat.parallel_tool_calls,
        response_format=chat.response_format,
        reasoning_effort=chat.reasoning_effort,
        options=chat.options,
        route=chat.route,
        drop_params=request.headers.get(DROP_PARAMS_HEADER, "").strip().lower() in ("1", "true", "yes"),
        native=getattr(chat, "native", None),
        allowed_models=key_allowed_models(request),
    )


def result_headers(result: Any, *, cache_hit: bool) -> dict[str, str]:
    """Who answered, from where, after how many attempts."""
    return {
        "X-Provider": result.provider,
        "X-Cache": "HIT" if cache_hit else "MISS",
        "X-Attempts": str(result.attempt_count),
    }


def dropped_headers(dropped) -> dict[str, str]:
    """The parameters left out for the provider that answered (the client sent X-Drop-Params)."""
    return {DROPPED_PARAMS_HEADER: ", ".join(sorted(dropped))} if dropped else {}


def answer_headers(result: Any, limit_headers: dict[str, str]) -> dict[str, str]:
    """A non-streamed answer's headers: the key's limits, who answered, what was left out."""
    return {
        **limit_headers,
        **result_headers(result, cache_hit=result.cache_hit),
        **dropped_headers(result.dropped),
    }


def sse(data: dict, event: str | None = None) -> bytes:
    """One Server-Sent Event: its JSON data, and its name when given."""
    prefix = b"event: " + event.encode() + b"\n" if event else b""
    return prefix + b"data: " + json_bytes(data) + b"\n\n"


def stream_response(
    stream: Any, events: AsyncIterator[bytes], headers: dict[str, str]
) -> StreamingHttpResponse:
    """The streamed answer: Server-Sent Events, never buffered by a proxy."""
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    for name, value in {**headers, **result_headers(stream, cache_hit=False)}.items():
        response[name] = value
    return response


def stream_error_body(request, error: ProviderError) -> dict:
    """The envelope of a provider failure after the stream started."""
    return error_body(
        message=f"The provider failed mid-stream: {error.message}",
        error_code="PROVIDER_STREAM_FAILED",
        request_id=request.request_id,
        context={"provider": error.provider, "error_code": error.kind.upper()},
    )
