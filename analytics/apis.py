"""Analytics API: GET /api/v1/metrics and GET /api/v1/analytics/costs (the "analytics" scope, or a
staff session). Money (`*_usd`) is USD as a decimal string with 8 places, never a float."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import HasAnalyticsScope
from analytics.figures import MAX_RANGE_DAYS, MONEY_FORMAT
from analytics.metrics import process_figures
from analytics.usage_costs import DIMENSIONS, usage_costs
from analytics.usage_metrics import parse_window, usage_metrics
from core.errors import ApiError

DEFAULT_WINDOW = "24h"
DEFAULT_RANGE_DAYS = 30


def _invalid(message: str, **context) -> ApiError:
    return ApiError(message, error_code="VALIDATION_ERROR", status_code=400, context=context)


_NO_ANALYTICS_SCOPE = OpenApiResponse(
    description="The key lacks the `analytics` scope (`INSUFFICIENT_SCOPE`), or the session's user is not "
    "staff."
)


class MetricsApi(APIView):
    """Request, latency, token, cost and cache figures over a recent window, in total and per
    provider, with this process's own uptime and in-flight requests. Per provider, `attempts`,
    `failed_attempts` and `attempt_error_rate` count every upstream call made to it, the failed
    ones that failover hid included. Amounts (`*_usd`) are decimal strings with 8 places."""

    permission_classes = [HasAnalyticsScope]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "window", str, required=False,
                description="How far back: `<N>m`, `<N>h` or `<N>d` (default `24h`).",
            )
        ],
        responses={200: inline_serializer("UsageMetrics", {
            "window": serializers.CharField(),
            "since": serializers.DateTimeField(),
            "until": serializers.DateTimeField(),
            "currency": serializers.CharField(),
            "money": serializers.CharField(help_text=MONEY_FORMAT),
            "totals": serializers.DictField(),
            "providers": serializers.ListField(child=serializers.DictField()),
            "process": serializers.DictField(),
        }),
            400: OpenApiResponse(description="`window` is not `<N>m`, `<N>h` or `<N>d` within range."),
            403: _NO_ANALYTICS_SCOPE,
        },
        tags=["analytics"],
    )
    def get(self, request):
        window = request.query_params.get("window", DEFAULT_WINDOW)
        try:
            delta = parse_window(window)
        except ValueError:
            raise _invalid(
                f"Invalid window {window!r}: use minutes, hours or days such as 30m, 1h or 7d.",
                window=window,
            ) from None
        until = timezone.now()
        since = until - delta
        figures = usage_metrics(since=since, until=until)
        return Response(
            {
                "window": window.strip(),
                "since": since.isoformat(),
                "until": until.isoformat(),
                "currency": "USD",
                "money": MONEY_FORMAT,
                **figures,
                "process": process_figures(),
            }
        )


EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2999, 12, 31)


def _date_param(request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise _invalid(f"Invalid {name!r} date {raw!r}: use YYYY-MM-DD.", **{name: raw}) from None
    # Far dates are no use for usage data and would overflow the range arithmetic.
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise _invalid(
            f"Invalid {name!r} date {raw!r}: use a date from {EARLIEST_DATE} to {LATEST_DATE}.", **{name: raw}
        )
    return value


def _group_by(request) -> list[str]:
    values = [part.strip() for raw in request.query_params.getlist("group_by") for part in raw.split(",")]
    values = [v for v in values if v]
    if not values:
        return list(DIMENSIONS)
    unknown = sorted({v for v in values if v not in DIMENSIONS})
    if unknown:
        raise _invalid(
            f"Unknown group_by {', '.join(unknown)}; use {', '.join(DIMENSIONS)}.",
            group_by=unknown, allowed=list(DIMENSIONS),
        )
    return list(dict.fromkeys(values))


class CostsApi(APIView):
    """What usage cost over a range of UTC days: totals, breakdowns and optimisation insights.
    Amounts (`*_usd`) are decimal strings with 8 places (exact: sum them as decimals, not floats)."""

    permission_classes = [HasAnalyticsScope]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from", str, required=False, description="First day, YYYY-MM-DD (default: 29 days earlier)."
            ),
            OpenApiParameter(
                "to", str, required=False, description="Last day, YYYY-MM-DD, included (default: today, UTC)."
            ),
            OpenApiParameter(
                "group_by", str, many=True, required=False,
                description=(
                    "Breakdowns to return: provider, model, api_key, day "
                    "(repeat or comma-separate; default: all)."
                ),
            ),
        ],
        responses={200: inline_serializer("UsageCosts", {
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "currency": serializers.CharField(),
            "money": serializers.CharField(help_text=MONEY_FORMAT),
            "totals": serializers.DictField(),
            "group_by": serializers.ListField(child=serializers.CharField()),
            "breakdowns": serializers.DictField(),
            "insights": serializers.DictField(),
            "sources": serializers.DictField(),
        }),
            400: OpenApiResponse(
                description="A date that is not YYYY-MM-DD or before 2000-01-01, `from` after `to`, a range "
                "longer than the maximum, or an unknown `group_by`."
            ),
            403: _NO_ANALYTICS_SCOPE,
        },
        tags=["analytics"],
    )
    def get(self, request):
        today = timezone.now().date()
        end = _date_param(request, "to", today)
        start = _date_param(request, "from", end - timedelta(days=DEFAULT_RANGE_DAYS - 1))
        if start > end:
            raise _invalid("'from' is after 'to'.", **{"from": start.isoformat(), "to": end.isoformat()})
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise _invalid(f"The range is longer than {MAX_RANGE_DAYS} days.", max_days=MAX_RANGE_DAYS)
        return Response(usage_costs(start=start, end=end, group_by=_group_by(request), today=today))
