"""The project's URLs plus two views that exist only to exercise the error paths."""

from adrf.views import APIView
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response

from aiprovider_site.urls import urlpatterns as project_urlpatterns


class EchoSerializer(serializers.Serializer):
    temperature = serializers.FloatField(min_value=0, max_value=2)
    messages = serializers.ListField(child=serializers.DictField(), min_length=1)


class PublicApi(APIView):
    """These views exercise the error envelope, not access control: no key needed."""

    authentication_classes: list = []
    permission_classes: list = []


class ValidatingApi(PublicApi):
    async def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class CrashingApi(PublicApi):
    async def get(self, request):
        raise RuntimeError("boom: an unexpected failure")


def crashing_plain_view(request):
    raise RuntimeError("boom outside DRF")


urlpatterns = [
    path("api/v1/_test/validate", ValidatingApi.as_view()),
    path("api/v1/_test/crash", CrashingApi.as_view()),
    path("v1/_test/crash-plain", crashing_plain_view),
    *project_urlpatterns,
]
