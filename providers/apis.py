"""GET /api/v1/models: the catalogue as clients see it."""

from adrf.views import APIView
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from providers.catalogue import catalogue_current


class ModelListApi(APIView):
    """Every enabled model with its provider, aliases, prices (USD per 1M tokens) and context window."""

    class ModelEntrySerializer(serializers.Serializer):
        name = serializers.CharField()
        provider = serializers.CharField()
        aliases = serializers.ListField(child=serializers.CharField())
        context_window = serializers.IntegerField(allow_null=True)
        max_output_tokens = serializers.IntegerField(allow_null=True)
        input_price_per_1m = serializers.DecimalField(max_digits=12, decimal_places=6, coerce_to_string=False)
        output_price_per_1m = serializers.DecimalField(
            max_digits=12, decimal_places=6, coerce_to_string=False
        )
        cached_input_price_per_1m = serializers.DecimalField(
            max_digits=12, decimal_places=6, coerce_to_string=False, allow_null=True
        )

    @extend_schema(
        responses={200: inline_serializer("ModelList", {"models": ModelEntrySerializer(many=True)})},
        tags=["models"],
    )
    async def get(self, request):
        catalogue = await catalogue_current()
        rows = [
            {
                "name": m.name,
                "provider": m.provider,
                "aliases": list(m.aliases),
                "context_window": m.context_window,
                "max_output_tokens": m.max_output_tokens,
                "input_price_per_1m": m.input_price_per_1m,
                "output_price_per_1m": m.output_price_per_1m,
                "cached_input_price_per_1m": m.cached_input_price_per_1m,
            }
            for m in catalogue.models
        ]
        return Response({"models": self.ModelEntrySerializer(rows, many=True).data})
