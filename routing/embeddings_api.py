"""POST /v1/embeddings in OpenAI's format, behind the same keys, limits, budgets, cache, usage
records and cost as chat. Parsing and rendering: `routing.doors.openai_embeddings`; routing:
`routing.embeddings`."""

from __future__ import annotations

from dataclasses import replace

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from access.api_views import ClientKeyApiView
from access.limits import access_admit
from core.errors import ApiError
from providers.catalogue import catalogue_current
from routing.api_docs import request_examples
from routing.apis import cache_directives, result_headers, with_limit_headers
from routing.doors.openai_chat import DoorError
from routing.doors.openai_embeddings import (
    ENCODINGS,
    EmbeddingsInput,
    embeddings_render,
    embeddings_request_parse,
)
from routing.embeddings import EmbeddingCommand, embedding_create, embedding_reservation
from routing.openai_compat import OpenAIErrorSerializer

USAGE_ESTIMATED_HEADER = "X-Usage-Estimated"


class EmbeddingCreateSerializer(serializers.Serializer):
    """The documented request (validation is `routing.doors.openai_embeddings.embeddings_request_parse`)."""

    model = serializers.CharField(help_text="An embedding model of the catalogue (see GET /v1/models).")
    input = serializers.JSONField(
        help_text="A string, a list of strings, a token array or a list of token arrays (OpenAI models "
        "only). Any number up to 16,384: the gateway splits them to each provider's per-request limit."
    )
    dimensions = serializers.IntegerField(
        required=False, min_value=1, help_text="Shorter vectors, on models that can give them."
    )
    encoding_format = serializers.ChoiceField(choices=ENCODINGS, required=False)
    user = serializers.CharField(required=False)
    provider = serializers.DictField(
        required=False, help_text="Routing controls, as for chat completions (`order`, `only`, `ignore`)."
    )


def _parse(request) -> EmbeddingsInput:
    try:
        return embeddings_request_parse(request.data)
    except DoorError as error:
        raise ApiError(
            error.message,
            error_code=error.code.upper() if error.code != "invalid_request" else "VALIDATION_ERROR",
            status_code=400,
            context={"param": error.param} if error.param else {},
        ) from None


class EmbeddingsApi(ClientKeyApiView):
    """OpenAI-compatible embeddings on OpenAI, Gemini and OpenAI-compatible providers."""

    @extend_schema(
        request=EmbeddingCreateSerializer,
        responses={
            200: inline_serializer(
                "CreateEmbeddingResponse",
                {
                    "object": serializers.CharField(),
                    "data": serializers.ListField(child=serializers.DictField()),
                    "model": serializers.CharField(),
                    "usage": serializers.DictField(),
                    "provider": serializers.CharField(),
                },
            ),
            400: OpenAIErrorSerializer,
            401: OpenAIErrorSerializer,
            402: OpenAIErrorSerializer,
            403: OpenAIErrorSerializer,
            404: OpenAIErrorSerializer,
            429: OpenAIErrorSerializer,
            503: OpenAIErrorSerializer,
        },
        examples=request_examples(
            one={"model": "text-embedding-3-small", "input": "Hello"},
            batch={"model": "text-embedding-3-small", "input": ["Hello", "world"]},
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
        tags=["openai-compatible"],
        description=(
            "Fails over only between providers of the same model (or models the catalogue declares "
            "to share its vector space). An input longer than the model takes is a 400 whose `param` "
            f"names it (`input[3]`). `{USAGE_ESTIMATED_HEADER}: true` when the provider reported no "
            "token count (Gemini) and usage is the gateway's estimate."
        ),
    )
    async def post(self, request):
        parsed = _parse(request)
        cache_read, cache_write = cache_directives(request)
        cmd = EmbeddingCommand(
            request_id=request.request_id,
            model=parsed.model,
            inputs=parsed.inputs,
            dimensions=parsed.dimensions,
            user=parsed.user,
            api_key_id=getattr(request.auth, "id", None),
            cache_read=cache_read,
            cache_write=cache_write,
            route=parsed.route,
        )
        catalogue = await catalogue_current()
        reserve_tokens, reserve_cost = await embedding_reservation(cmd)
        admission = await access_admit(
            key=request.auth,
            model_names=catalogue.public_names_of(cmd.model),
            estimated_tokens=reserve_tokens,
            reserve_tokens=reserve_tokens,
            reserve_cost_usd=reserve_cost,
        )
        cmd = replace(cmd, reservation=admission.reservation)
        limit_headers = admission.headers
        result = await with_limit_headers(embedding_create(cmd), limit_headers, cmd.reservation)
        body = embeddings_render(
            result.vectors,
            model=result.model,
            usage=result.usage,
            encoding_format=parsed.encoding_format,
            provider=result.provider,
        )
        headers = {**limit_headers, **result_headers(result, cache_hit=result.cache_hit)}
        if result.usage_estimated:
            headers[USAGE_ESTIMATED_HEADER] = "true"
        return Response(body, headers=headers)
