from django.urls import path

from analytics.apis import CostsApi, MetricsApi

urlpatterns = [
    path("metrics", MetricsApi.as_view(), name="usage-metrics"),
    path("analytics/costs", CostsApi.as_view(), name="usage-costs"),
]
