"""OpenAI's wire format at /v1: POST /v1/chat/completions (streaming included) and GET /v1/models,
so the official OpenAI SDKs work against the gateway with only `base_url` changed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from adrf.views import APIView
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from aiprovider_site.errors import ApiError
from providers.adapters.base import Message, ProviderError
from providers.catalogue import catalogue_current
from routing.apis import (
    ROLES,
    ErrorSerializer,
    StopField,
    admit,
    charge,
    sse,
    stream_error_body,
    stream_response,
    with_limit_headers,
)
from routing.services import CompletionCommand, completion_create, completion_stream

OPENAI_ROLES = (*ROLES, "tool")


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]})
class ContentField(serializers.Field):
    """A message's content: a string, or a list of parts of which the text parts are kept."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if isinstance(data, list):
            texts = []
            for part in data:
                if (
                    not isinstance(part, dict)
                    or part.get("type") != "text"
                    or not isinstance(part.get("text"), str)
                ):
                    raise serializers.ValidationError("only text content parts are supported")
                texts.append(part["text"])
            return "".join(texts)
        if data is None:
            return ""
        raise serializers.ValidationError("content must be a string or a list of text parts")

    def to_representation(self, value):
        return value


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=OPENAI_ROLES)
    content = ContentField()


class StreamOptionsSerializer(serializers.Serializer):
    include_usage = serializers.BooleanField(default=False)


class ChatCompletionInputSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=200)
    messages = ChatMessageSerializer(many=True, allow_empty=False, max_length=1000)
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=2.0)
    top_p = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    stop = StopField(required=False, allow_null=True, max_length=4)
    stream = serializers.BooleanField(default=False)
    stream_options = StreamOptionsSerializer(required=False, allow_null=True)
    user = serializers.CharField(required=False, allow_null=True, max_length=256)
    n = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1)


def _command(request, data) -> CompletionCommand:
    from routing.apis import cache_directives

    cache_read, cache_write = cache_directives(request)
    return CompletionCommand(
        request_id=request.request_id,
        messages=tuple(
            Message("system" if m["role"] == "developer" else m["role"], m["content"])
            for m in data["messages"]
            if m["role"] != "tool"
        ),
        model=data["model"],
        temperature=data.get("temperature"),
        max_tokens=data.get("max_completion_tokens") or data.get("max_tokens"),
        top_p=data.get("top_p"),
        stop=tuple(data["stop"]) if data.get("stop") else None,
        user=data.get("user"),
        api_key_id=getattr(request.auth, "id", None),
        cache_read=cache_read,
        cache_write=cache_write,
    )


def _usage(usage) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


class ChatCompletionsApi(APIView):
    """OpenAI-compatible chat completions."""

    @extend_schema(
        request=ChatCompletionInputSerializer,
        responses={
            200: inline_serializer(
                "ChatCompletion",
                {
                    "id": serializers.CharField(),
                    "object": serializers.CharField(),
                    "created": serializers.IntegerField(),
                    "model": serializers.CharField(),
                    "choices": serializers.ListField(child=serializers.DictField()),
                    "usage": serializers.DictField(),
                    "provider": serializers.CharField(),
                },
            ),
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
            503: ErrorSerializer,
        },
        tags=["openai-compatible"],
    )
    async def post(self, request):
        serializer = ChatCompletionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        cmd = _command(request, data)
        if not cmd.messages:
            raise ApiError("messages must hold at least one non-tool message", error_code="VALIDATION_ERROR")
        limit_headers = await admit(request, cmd)
        completion_id = f"chatcmpl-{request.request_id}"
        created = int(time.time())
        if data["stream"]:
            include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
            return await self._stream(request, cmd, limit_headers, completion_id, created, include_usage)
        result = await with_limit_headers(completion_create(cmd), limit_headers)
        await charge(request, tokens=result.usage.total_tokens, cost=result.cost_usd)
        body = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": result.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": _usage(result.usage),
            "system_fingerprint": None,
            "provider": result.provider,
        }
        from routing.apis import result_headers

        return Response(body, headers={**limit_headers, **result_headers(result, cache_hit=result.cache_hit)})

    async def _stream(self, request, cmd, limit_headers, completion_id, created, include_usage):
        stream = await with_limit_headers(completion_stream(cmd), limit_headers)

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
            yield sse(chunk({"role": "assistant", "content": ""}))
            try:
                async for piece in stream.chunks():
                    if piece.delta:
                        yield sse(chunk({"content": piece.delta}))
            except ProviderError as error:
                yield sse({"error": stream_error_body(request, error)})
                return
            yield sse(chunk({}, finish_reason=stream.finish_reason or "stop"))
            usage = stream.usage
            await charge(request, tokens=usage.total_tokens if usage else 0, cost=stream.cost_usd)
            if include_usage and usage is not None:
                yield sse(chunk({}, usage=_usage(usage), choices=False))
            yield b"data: [DONE]\n\n"

        return stream_response(stream, events(), limit_headers)


class OpenAIModelListApi(APIView):
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
        catalogue = await catalogue_current()
        seen: dict[str, str] = {}
        for entry in catalogue.models:
            for name in sorted(entry.public_names):
                seen.setdefault(name, entry.provider)
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": provider}
            for name, provider in sorted(seen.items())
        ]
        return Response({"object": "list", "data": data})
