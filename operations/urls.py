"""The operator's endpoints, at the root of the site: `/health`, `/status`, `/metrics`."""

from django.conf import settings
from django.urls import path

from operations.metrics_view import metrics_view
from operations.views import HealthApi, StatusApi, noop_view

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("status", StatusApi.as_view(), name="status"),
    path("metrics", metrics_view, name="prometheus-metrics"),
]

if settings.BENCHMARK_NOOP_VIEW:
    # Under /api/ so that it goes through the same middleware stack as the API it is compared with.
    urlpatterns.append(path("api/v1/bench/noop", noop_view))
