from django.urls import path

from providers.apis import HealthReportListApi, ModelListApi, ProviderHealthApi

urlpatterns = [
    path("models", ModelListApi.as_view(), name="model-list"),
    path("providers/<slug:provider_name>/health", ProviderHealthApi.as_view(), name="provider-health"),
    path("health/reports", HealthReportListApi.as_view(), name="health-report-list"),
]
