from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from aiprovider_site.admin_login import ThrottledAdminAuthenticationForm
from aiprovider_site.docs import RedocDocsView, SwaggerDocsView
from aiprovider_site.metrics_view import metrics_view
from aiprovider_site.views import HealthApi, StatusApi, noop_view
from routing import urls as routing_urls

# The API's documentation holds no secret and must open in a browser: no key, no session needed.
PUBLIC = {"authentication_classes": [], "permission_classes": [AllowAny]}

# Failed admin logins lock the username and the address out for a while (aiprovider_site/admin_login.py).
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("status", StatusApi.as_view(), name="status"),
    path("metrics", metrics_view, name="prometheus-metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
    path("api/docs/", SwaggerDocsView.as_view(url_name="schema", **PUBLIC), name="swagger-ui"),
    path("api/redoc/", RedocDocsView.as_view(url_name="schema", **PUBLIC), name="redoc"),
    path("api/v1/", include("providers.urls")),
    path("api/v1/", include(routing_urls.api_urlpatterns)),
    path("api/v1/", include("analytics.urls")),
    path("v1/", include(routing_urls.openai_urlpatterns)),
]

if settings.BENCHMARK_NOOP_VIEW:
    # Under /api/ so that it goes through the same middleware stack as the API it is compared with.
    urlpatterns.append(path("api/v1/bench/noop", noop_view))
