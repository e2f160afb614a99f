"""Service-level endpoints that belong to no app."""

from adrf.views import APIView
from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from providers.selectors import provider_health_summary


async def noop_view(request):
    """The benchmark's baseline: a Django async view that does nothing (only with BENCHMARK_NOOP_VIEW)."""
    return JsonResponse({"ok": True})


class HealthApi(APIView):
    """`GET /health`: liveness and provider health. Needs no API key and leaks no secret."""

    authentication_classes: list = []
    permission_classes: list = []

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
        service = serializers.CharField()
        timestamp = serializers.DateTimeField()
        providers = serializers.DictField(child=serializers.DictField())
        metrics = serializers.DictField()

    @extend_schema(responses={200: OutputSerializer}, tags=["health"], auth=[])
    async def get(self, request):
        summary = await provider_health_summary()
        return Response(
            {
                "status": summary["status"],
                "service": settings.SERVICE_NAME,
                "timestamp": timezone.now().isoformat(),
                "providers": summary["providers"],
                "metrics": summary["metrics"],
            }
        )


