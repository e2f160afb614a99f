"""Request id binding and the API error envelope for errors raised outside DRF views."""

import re
import uuid

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware

from aiprovider_site.errors import error_response
from core.errors import error_code_for_status, is_api_path

logger = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain, so it cannot inject into logs or headers.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_from(request: HttpRequest) -> str:
    supplied = request.headers.get(REQUEST_ID_HEADER)
    if supplied and VALID_REQUEST_ID.match(supplied):
        return supplied
    return uuid.uuid4().hex


class _SyncAndAsync:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        self.before(request)
        return self.after(request, self.get_response(request))

    async def __acall__(self, request):
        self.before(request)
        return self.after(request, await self.get_response(request))

    def before(self, request: HttpRequest) -> None:
        pass

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class RequestIdMiddleware(_SyncAndAsync):
    """Takes `X-Request-ID` or makes one, binds it to every log line, echoes it back."""

    def before(self, request: HttpRequest) -> None:
        request.request_id = request_id_from(request)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request.request_id)

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response[REQUEST_ID_HEADER] = request.request_id
        return response


class ApiErrorEnvelopeMiddleware(_SyncAndAsync):
    """Under /api/ and /v1/, errors Django answers itself (unknown URL, wrong method, a crash
    outside a DRF view, an oversized body) leave in the standard envelope too."""

    def __call__(self, request):
        too_large = self.oversized(request)
        if too_large is not None:
            return self._return(too_large)
        return super().__call__(request)

    async def _areturn(self, response):
        return response

    def _return(self, response):
        return self._areturn(response) if self.is_async else response

    @staticmethod
    def oversized(request: HttpRequest) -> HttpResponse | None:
        """The body limit is checked before any parser reads the body (413, not a 500)."""
        if not is_api_path(request.path):
            return None
        limit = settings.API_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(request, message="Invalid Content-Length header.", status_code=400)
        if length > limit:
            return error_response(
                request,
                message=f"Request body is too large: {length} bytes, the limit is {limit}.",
                status_code=413,
                context={"limit_bytes": limit, "received_bytes": length},
            )
        return None

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or not is_api_path(request.path):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status_code = response.status_code
        context = {}
        if status_code == 404:
            message = f"No API endpoint at {request.path}."
            context["path"] = request.path
        elif status_code == 405:
            allowed = response.get("Allow", "")
            message = f"Method {request.method} is not allowed here."
            context = {"method": request.method, "allowed": [m.strip() for m in allowed.split(",") if m]}
        elif status_code >= 500:
            message = "Internal server error."
        else:
            message = "Request failed."
        enveloped = error_response(
            request, message=message, status_code=status_code, error_code=error_code_for_status(status_code),
            context=context,
        )
        if "Allow" in response:
            enveloped["Allow"] = response["Allow"]
        return enveloped

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_api_path(request.path):
            return None
        from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
        from django.http import Http404

        if isinstance(exception, Http404):
            return error_response(
                request, message=f"No API endpoint at {request.path}.", status_code=404,
                context={"path": request.path},
            )
        if isinstance(exception, RequestDataTooBig):
            return error_response(request, message="Request body is too large.", status_code=413)
        if isinstance(exception, SuspiciousOperation):
            return error_response(request, message="The request is malformed or too large.", status_code=400)
        logger.exception("unhandled_exception", error_type=type(exception).__name__, path=request.path)
        return error_response(request, message="Internal server error.", status_code=500)


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, able to run in an async chain.

    WhiteNoise's own middleware is sync-only, and one sync middleware makes Django run the whole
    chain above it in a worker thread, with a fresh thread pool per request: a no-op view then costs
    milliseconds. Finding a static file is a dict lookup, so it is done inline either way.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, settings=settings):
        super().__init__(get_response, settings=settings)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        path = request.path_info
        static_file = self.find_file(path) if self.autorefresh else self.files.get(path)
        if static_file is not None:
            response = self.serve(static_file, request)
            return self._wrap(response) if self.is_async else response
        return self.get_response(request)

    @staticmethod
    async def _wrap(response):
        return response


class InlineSecurityMiddleware(SecurityMiddleware):
    """Django's SecurityMiddleware (HTTPS redirect, HSTS, nosniff, referrer policy) for the async
    API stack: its checks are pure computations, so they run inline instead of in a thread."""

    async def __acall__(self, request):
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)
        return self.process_response(request, response)
