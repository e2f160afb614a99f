"""GET /api/v1/models: the catalogue as clients see it; provider health and health reports."""

from asgiref.sync import sync_to_async
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from access.api_views import ClientKeyApiView
from core.errors import ApiError
from providers.catalogue import catalogue_current
from providers.selectors import health_report_list, provider_health_detail, provider_health_statuses


class ModelListApi(ClientKeyApiView):
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


class ErrorEnvelopeSerializer(serializers.Serializer):
    error = serializers.CharField()
    error_code = serializers.CharField()
    timestamp = serializers.DateTimeField()
    request_id = serializers.CharField()
    context = serializers.DictField()


def _limit(request, *, default: int, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise ApiError(
            f"limit must be an integer from 1 to {maximum}.",
            error_code="VALIDATION_ERROR",
            status_code=400,
            context={"fields": {"limit": [f"an integer from 1 to {maximum}"]}},
        )
    return value


class HealthCheckEntrySerializer(serializers.Serializer):
    status = serializers.CharField()
    latency_ms = serializers.FloatField(allow_null=True)
    error_code = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    checked_at = serializers.DateTimeField()


class LatencyPercentilesSerializer(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class ProviderHealthDetailSerializer(serializers.Serializer):
    provider = serializers.CharField()
    enabled = serializers.BooleanField()
    status = serializers.CharField(
        help_text="From the last probe round: healthy, degraded, unhealthy, unconfigured (or unknown)."
    )
    last_checked = serializers.DateTimeField(allow_null=True)
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    checks_24h = serializers.IntegerField()
    uptime_percent_24h = serializers.FloatField(allow_null=True)
    latency_ms_24h = LatencyPercentilesSerializer()
    check_errors_24h = serializers.DictField(child=serializers.IntegerField())
    checks = HealthCheckEntrySerializer(many=True)


class ProviderHealthApi(ClientKeyApiView):
    """One provider's health: current status, its last checks (`?limit=`, default 20) and its
    uptime and probe latency percentiles over the last 24 hours."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "provider_name", str, OpenApiParameter.PATH,
                examples=[OpenApiExample("openai", value="openai")],
            ),
            OpenApiParameter("limit", int, description="How many recent checks (1-500)."),
        ],
        responses={
            200: ProviderHealthDetailSerializer,
            400: ErrorEnvelopeSerializer,
            404: ErrorEnvelopeSerializer,
        },
        tags=["providers"],
    )
    async def get(self, request, provider_name: str):
        limit = _limit(request, default=20, maximum=500)
        detail = await sync_to_async(provider_health_detail)(name=provider_name, limit=limit)
        if detail is None:
            raise ApiError(
                f"Provider {provider_name!r} does not exist.",
                error_code="PROVIDER_NOT_FOUND",
                status_code=404,
                context={"provider": provider_name},
            )
        provider, recent, stats = detail["provider"], detail["recent"], detail["stats"]
        try:
            published = (await provider_health_statuses()).get(provider.name)
        except Exception:  # shared state down: the stored checks still say something
            published = None
        status = published or (recent[0].status if recent else "unknown")
        body = {
            "provider": provider.name,
            "enabled": provider.enabled,
            "status": status,
            "last_checked": recent[0].checked_at if recent else None,
            "window_start": detail["window_start"],
            "window_end": detail["window_end"],
            "checks_24h": stats.checks,
            "uptime_percent_24h": stats.uptime_percent,
            "latency_ms_24h": {
                "p50": stats.latency_p50_ms,
                "p95": stats.latency_p95_ms,
                "p99": stats.latency_p99_ms,
            },
            "check_errors_24h": stats.check_errors,
            "checks": recent,
        }
        return Response(ProviderHealthDetailSerializer(body).data)


class HealthReportSerializer(serializers.Serializer):
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    providers = serializers.DictField(
        child=serializers.DictField(),
        help_text="Per provider: checks, uptime_percent, latency_p50_ms, latency_p95_ms, check_errors, "
        "requests, errors (by code), failovers.",
    )
    totals = serializers.DictField(help_text="requests, cache_hits, failovers, errors (by code).")


class HealthReportListApi(ClientKeyApiView):
    """The hourly health reports, newest first (`?limit=`, default 24)."""

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description="How many reports (1-720).")],
        responses={
            200: inline_serializer("HealthReportList", {"reports": HealthReportSerializer(many=True)}),
            400: ErrorEnvelopeSerializer,
        },
        tags=["health"],
    )
    async def get(self, request):
        limit = _limit(request, default=24, maximum=720)
        reports = await sync_to_async(health_report_list)(limit=limit)
        return Response({"reports": HealthReportSerializer(reports, many=True).data})
