from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from aiprovider_site.admin_login import ThrottledAdminAuthenticationForm
from aiprovider_site.docs import RedocDocsView, SwaggerDocsView
from routing import urls as routing_urls

# The API's documentation holds no secret and must open in a browser: no key, no session needed.
PUBLIC = {"authentication_classes": [], "permission_classes": [AllowAny]}

# Failed admin logins lock the username and the address out for a while (aiprovider_site/admin_login.py).
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path("", include("operations.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
    path("api/docs/", SwaggerDocsView.as_view(url_name="schema", **PUBLIC), name="swagger-ui"),
    path("api/redoc/", RedocDocsView.as_view(url_name="schema", **PUBLIC), name="redoc"),
    path("api/v1/", include("providers.urls")),
    path("api/v1/", include(routing_urls.api_urlpatterns)),
    path("api/v1/", include("analytics.urls")),
    path("v1/", include(routing_urls.openai_urlpatterns)),
]
