"""`GET /health` and `GET /status`, and the benchmark's do-nothing baseline view."""

from adrf.views import APIView
from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from operations.health import service_health
from operations.status import service_status


async def noop_view(request):
    """The benchmark's baseline: a Django async view that does nothing (only with BENCHMARK_NOOP_VIEW)."""
    return JsonResponse({"ok": True})


class ProviderHealthSerializer(serializers.Serializer):
    """One provider in GET /health."""

    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy", "unconfigured", "unknown"])
    latency_ms = serializers.FloatField(allow_null=True, help_text="Latency of the last probe.")
    last_checked = serializers.DateTimeField(allow_null=True)
    success_rate = serializers.FloatField(allow_null=True, help_text="Of routed calls, lifetime.")
    avg_response_time_ms = serializers.FloatField(allow_null=True, help_text="Of routed calls, lifetime.")
    breaker_state = serializers.ChoiceField(choices=["closed", "open", "half_open"])


class HealthMetricsSerializer(serializers.Serializer):
    requests_total = serializers.IntegerField(help_text="Provider calls routed (live counters).")
    success_rate = serializers.FloatField(allow_null=True)
    requests_24h = serializers.IntegerField(allow_null=True, help_text="Requests answered, last 24 h.")
    cache_hits_24h = serializers.IntegerField(allow_null=True)
    cache_hit_rate_24h = serializers.FloatField(allow_null=True)
    providers_total = serializers.IntegerField()
    providers_healthy = serializers.IntegerField()
    last_probe_at = serializers.DateTimeField(allow_null=True)


class HealthCheckResponseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["healthy", "degraded", "unhealthy"])
    service = serializers.CharField()
    timestamp = serializers.DateTimeField()
    providers = serializers.DictField(child=ProviderHealthSerializer())
    metrics = HealthMetricsSerializer()


class HealthApi(APIView):
    """`GET /health`: service and provider health. Needs no API key and leaks no secret.

    Served from the probe summary cached in shared state (HEALTH_CACHE_TTL_S); on a miss one
    probe round runs for the whole fleet and this answer waits for it at most HEALTH_WAIT_S.
    """

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(responses={200: HealthCheckResponseSerializer}, tags=["health"], auth=[])
    async def get(self, request):
        health = await service_health()
        return Response(
            {
                "status": health["status"],
                "service": settings.SERVICE_NAME,
                "timestamp": timezone.now().isoformat(),
                "providers": health["providers"],
                "metrics": health["metrics"],
            }
        )


class StatusApi(APIView):
    """`GET /status`: version, uptime and whether the database, Redis and the Celery workers answer.

    Needs no API key; shows no URL, host name or password. 503 when the database or a configured
    Redis does not answer.
    """

    authentication_classes: list = []
    permission_classes: list = []

    class ServiceStatusSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "degraded", "error"])
        service = serializers.CharField()
        version = serializers.CharField()
        timestamp = serializers.DateTimeField()
        started_at = serializers.DateTimeField()
        uptime_s = serializers.FloatField()
        checks = serializers.DictField(child=serializers.DictField())

    @extend_schema(
        responses={200: ServiceStatusSerializer, 503: ServiceStatusSerializer}, tags=["health"], auth=[]
    )
    async def get(self, request):
        body = await service_status()
        return Response(body, status=503 if body["status"] == "error" else 200)
