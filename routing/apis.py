"""The completion API: POST /api/v1/completion and /api/v1/providers/{name}/completion, and the
provider list with live stats."""

from __future__ import annotations

from collections.abc import AsyncIterator

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from access.api_views import ClientKeyApiView
from providers.adapters.errors import ProviderError
from providers.adapters.messages import Message
from routing.admission import Admitted, completion_answer, completion_stream_answer
from routing.api_docs import HELLO, event_stream, request_examples
from routing.api_support import (
    cache_directives,
    key_allowed_models,
    result_headers,
    sse,
    stream_error_body,
    stream_response,
)
from routing.commands import CompletionCommand
from routing.completion_input import CompletionInputSerializer, completion_input_fast
from routing.completions import CompletionResult
from routing.selectors import provider_status_list
from routing.streams import CompletionStream


class UsageOutputSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class CompletionOutputSerializer(serializers.Serializer):
    content = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    usage = UsageOutputSerializer()
    cost_estimate = serializers.FloatField(help_text="USD, from the catalogue prices.")
    response_time_ms = serializers.FloatField()
    timestamp = serializers.DateTimeField()
    finish_reason = serializers.CharField()
    cached = serializers.BooleanField()
    request_id = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    error_code = serializers.CharField()
    timestamp = serializers.DateTimeField()
    request_id = serializers.CharField()
    context = serializers.DictField()


def completion_command(request, data: dict, *, provider: str | None) -> CompletionCommand:
    cache_read, cache_write = cache_directives(request)
    return CompletionCommand(
        request_id=request.request_id,
        messages=tuple(Message(m["role"], m["content"]) for m in data["messages"]),
        model=data["model"],
        temperature=data.get("temperature"),
        max_tokens=data.get("max_tokens"),
        top_p=data.get("top_p"),
        stop=tuple(data["stop"]) if data.get("stop") else None,
        user=data.get("user"),
        provider=provider if provider is not None else data.get("provider"),
        api_key_id=getattr(request.auth, "id", None),
        cache_read=cache_read,
        cache_write=cache_write,
        allowed_models=key_allowed_models(request),
    )


def completion_body(result: CompletionResult, *, request_id: str) -> dict:
    """The /api/v1 answer."""
    return {
        "content": result.content,
        "model": result.model,
        "provider": result.provider,
        "usage": {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "cached_tokens": result.usage.cached_tokens,
            "total_tokens": result.usage.total_tokens,
        },
        "cost_estimate": float(result.cost_usd),
        "response_time_ms": round(result.latency_ms, 2),
        "timestamp": timezone.now().isoformat(),
        "finish_reason": result.finish_reason,
        "cached": result.cache_hit,
        "request_id": request_id,
    }


class CompletionApi(ClientKeyApiView):
    """Route one chat completion to the best healthy provider."""

    forced_provider: str | None = None

    @extend_schema(
        request=CompletionInputSerializer,
        responses={
            (200, "application/json"): CompletionOutputSerializer,
            (200, "text/event-stream"): event_stream(
                'With `stream: true`: `data: {"content": ...}` per chunk, then `data: {"done": true, ...}` '
                "with usage and cost, or `event: error` with the error envelope."
            ),
            400: ErrorSerializer,
            401: ErrorSerializer,
            402: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            413: ErrorSerializer,
            429: ErrorSerializer,
            503: ErrorSerializer,
        },
        examples=request_examples(
            answer={"model": "gpt-4o-mini", "messages": HELLO},
            streamed={"model": "gpt-4o-mini", "messages": HELLO, "stream": True},
        ),
        parameters=[
            OpenApiParameter(
                "Cache-Control",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="`no-cache` skips the cache lookup, `no-store` the cache write.",
            ),
        ],
        tags=["completions"],
        description=(
            'With `stream: true` the answer is Server-Sent Events: `data: {"content": ...}` per '
            'chunk, then `data: {"done": true, ...}` with usage and cost; a failure mid-stream '
            "ends with `event: error` carrying the standard error envelope."
        ),
    )
    async def post(self, request, provider_name: str | None = None):
        data = completion_input_fast(request.data)
        if data is None:
            serializer = CompletionInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        cmd = completion_command(request, data, provider=provider_name)
        if data["stream"]:
            return self.stream(request, await completion_stream_answer(key=request.auth, cmd=cmd))
        admitted = await completion_answer(key=request.auth, cmd=cmd)
        result = admitted.answer
        headers = {**admitted.limit_headers, **result_headers(result, cache_hit=result.cache_hit)}
        return Response(completion_body(result, request_id=request.request_id), headers=headers)

    def stream(self, request, admitted: Admitted[CompletionStream]):
        stream = admitted.answer

        async def events() -> AsyncIterator[bytes]:
            try:
                async for chunk in stream.chunks():
                    if chunk.delta:
                        yield sse({"content": chunk.delta})
            except ProviderError as error:
                yield sse(stream_error_body(request, error), event="error")
                return
            usage = stream.usage
            yield sse(
                {
                    "done": True,
                    "model": stream.model,
                    "provider": stream.provider,
                    "finish_reason": stream.finish_reason or "stop",
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens if usage else 0,
                        "completion_tokens": usage.completion_tokens if usage else 0,
                        "cached_tokens": usage.cached_tokens if usage else 0,
                    },
                    "cost_estimate": float(stream.cost_usd),
                    "timestamp": timezone.now().isoformat(),
                    "request_id": request.request_id,
                }
            )

        return stream_response(stream, events(), admitted.limit_headers)


class ProviderCompletionApi(CompletionApi):
    """The same, forced to one provider: it never fails over to another."""

    @extend_schema(
        request=CompletionInputSerializer,
        responses={
            (200, "application/json"): CompletionOutputSerializer,
            (200, "text/event-stream"): event_stream(
                'With `stream: true`: `data: {"content": ...}` per chunk, then `data: {"done": true, ...}` '
                "with usage and cost, or `event: error` with the error envelope."
            ),
            **{status: ErrorSerializer for status in (400, 401, 402, 403, 404, 413, 429, 503)},
        },
        parameters=[
            OpenApiParameter(
                "provider_name", str, OpenApiParameter.PATH,
                examples=[OpenApiExample("openai", value="openai")],
            ),
        ],
        examples=request_examples(
            answer={"model": "gpt-4o-mini", "messages": HELLO},
            streamed={"model": "gpt-4o-mini", "messages": HELLO, "stream": True},
        ),
        tags=["completions"],
    )
    async def post(self, request, provider_name: str):
        return await super().post(request, provider_name=provider_name)


class ProviderListApi(ClientKeyApiView):
    """Every enabled provider with its status, health and live stats."""

    class ProviderStatusSerializer(serializers.Serializer):
        name = serializers.CharField()
        kind = serializers.CharField()
        status = serializers.CharField(help_text="available, unconfigured (no key) or circuit_open")
        health = serializers.CharField()
        configured = serializers.BooleanField()
        priority = serializers.IntegerField()
        weight = serializers.IntegerField()
        breaker_state = serializers.CharField()
        requests = serializers.IntegerField()
        success_rate = serializers.FloatField(allow_null=True)
        avg_latency_ms = serializers.FloatField(allow_null=True)
        models = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        responses={
            200: inline_serializer("ProviderList", {"providers": ProviderStatusSerializer(many=True)})
        },
        tags=["providers"],
    )
    async def get(self, request):
        return Response({"providers": await provider_status_list()})
