"""POST /v1/embeddings in OpenAI's format, behind the same keys, limits, budgets, cache, usage
records and cost as chat. Parsing and rendering: `routing.doors.openai_embeddings`; routing:
`routing.embeddings`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from access.api_views import ClientKeyApiView
from routing.admission import embedding_answer
from routing.api_docs import request_examples
from routing.api_support import OPENAI_ERRORS, cache_directives, door_error, result_headers
from routing.doors.common import DoorError
from routing.doors.openai_embeddings import ENCODINGS, embeddings_render, embeddings_request_parse
from routing.embedding_plan import EmbeddingCommand

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
            **OPENAI_ERRORS,
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
        try:
            parsed = embeddings_request_parse(request.data)
        except DoorError as error:
            raise door_error(error) from None
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
        admitted = await embedding_answer(key=request.auth, cmd=cmd)
        result = admitted.answer
        body = embeddings_render(
            result.vectors,
            model=result.model,
            usage=result.usage,
            encoding_format=parsed.encoding_format,
            provider=result.provider,
        )
        headers = {**admitted.limit_headers, **result_headers(result, cache_hit=result.cache_hit)}
        if result.usage_estimated:
            headers[USAGE_ESTIMATED_HEADER] = "true"
        return Response(body, headers=headers)
