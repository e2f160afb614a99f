"""The project's URLs plus endpoints that behave like the real ones, to exercise access control."""

from decimal import Decimal

from adrf.views import APIView
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView as PlainApiView

from access.limits import access_admit, access_charge
from access.permissions import HasAnalyticsScope
from aiprovider_site.urls import urlpatterns as project_urlpatterns

# What the catalogue would answer: a model name and its aliases.
ALIASES = {
    "gpt-4o-mini": {"gpt-4o-mini", "gpt-4o-mini-2024-07-18"},
    "gpt-4o-mini-2024-07-18": {"gpt-4o-mini", "gpt-4o-mini-2024-07-18"},
}


class GateApi(APIView):
    """Like a completion endpoint: default authentication and permission, admission with the
    posted model and token estimate, the admission headers on the answer, then the charge."""

    async def post(self, request):
        model = request.data.get("model", "gpt-4o-mini")
        admission = await access_admit(
            key=request.auth,
            model_names=ALIASES.get(model, {model}),
            estimated_tokens=int(request.data.get("estimated_tokens", 0)),
        )
        await access_charge(
            key=request.auth,
            tokens=int(request.data.get("tokens", 0)),
            cost_usd=Decimal(str(request.data.get("cost_usd", "0"))),
        )
        return Response({"key": request.auth.name, "user": str(request.user)}, headers=admission.headers)


class AnalyticsApi(APIView):
    permission_classes = [HasAnalyticsScope]

    async def get(self, request):
        return Response({"user": str(request.user)})


class PlainApi(PlainApiView):
    """A plain (sync) DRF view under the same defaults."""

    def get(self, request):
        return Response({"key": request.auth.name})


urlpatterns = [
    path("api/v1/_test/gate", GateApi.as_view()),
    path("v1/_test/gate", GateApi.as_view()),
    path("api/v1/_test/analytics", AnalyticsApi.as_view()),
    path("api/v1/_test/plain", PlainApi.as_view()),
    *project_urlpatterns,
]
