"""The base of the gateway's async API views: adrf views whose common request makes no thread hop.

adrf runs DRF's `initial()` (content negotiation, authentication, permissions, throttles) through
`sync_to_async`, and Django renders a DRF `Response` through `sync_to_async` too: two trips to
asgiref's single sync thread per request, where every request of the worker queues. Here `initial()`
runs on the event loop whenever authentication needs no I/O (the key's lookup is cached and fresh;
otherwise the usual `initial()` runs in the thread, as before), and the response is rendered on the
loop and handed to Django as a plain `HttpResponse`.
"""

from __future__ import annotations

from adrf.views import APIView
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpResponse
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from access.key_cache import MISSING
from core.errors import ApiError


class ClientKeyApiView(APIView):
    """An adrf `APIView` for endpoints behind client keys (DRF's API stays the same)."""

    async def async_dispatch(self, request, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            if not self.initial_without_io(request, *args, **kwargs):
                await sync_to_async(self.initial)(request, *args, **kwargs)
            method = request.method.lower()
            handler = (
                getattr(self, method, self.http_method_not_allowed)
                if method in self.http_method_names
                else self.http_method_not_allowed
            )
            if iscoroutinefunction(handler):
                response = await handler(request, *args, **kwargs)
            else:
                response = await sync_to_async(handler)(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def initial_without_io(self, request, *args, **kwargs) -> bool:
        """DRF's `initial()` on the event loop, when the first authenticator can answer without
        I/O; False (nothing done) when it cannot."""
        authenticators = request.authenticators
        authenticator = authenticators[0] if authenticators else None
        if not hasattr(authenticator, "authenticate_without_io"):
            return False
        self.format_kwarg = self.get_format_suffix(**kwargs)
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
        try:
            result = authenticator.authenticate_without_io(request)
        except (APIException, ApiError):
            request._not_authenticated()
            raise
        if result is MISSING:
            return False
        request.version, request.versioning_scheme = self.determine_version(request, *args, **kwargs)
        request._authenticator = authenticator
        request.user, request.auth = result
        self.check_permissions(request)
        self.check_throttles(request)
        return True

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if not isinstance(response, Response):
            return response  # a stream, or already plain
        response.render()
        plain = HttpResponse(response.content, status=response.status_code)
        for name, value in response.items():
            plain[name] = value
        return plain
