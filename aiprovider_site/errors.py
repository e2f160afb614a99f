"""The one error envelope of the API: {"error","error_code","timestamp","request_id","context"}."""

from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from django.utils import timezone
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = structlog.get_logger(__name__)

API_PATH_PREFIXES = ("/api/", "/v1/")


class ApiError(exceptions.APIException):
    """An error the API answers on purpose, with its own code and context."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        status_code: int | None = None,
        context: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail=message)
        self.message = message
        if error_code:
            self.error_code = error_code
        if status_code:
            self.status_code = status_code
        self.context = context or {}
        self.headers = headers or {}


STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_FAILED",
    402: "BUDGET_EXCEEDED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "PROVIDER_UNAVAILABLE",
}


# The /v1 paths speak OpenAI's protocol, errors included: {"error": {"message", "type", "param",
# "code"}}, which the official SDKs read into their exceptions (`e.message`, `e.code`).
OPENAI_PATH_PREFIX = "/v1/"
_OPENAI_TYPES = {
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


def openai_error_body(body: dict[str, Any], status_code: int) -> dict[str, Any]:
    """The native envelope in OpenAI's error shape, keeping the request id and context."""
    context = body.get("context") or {}
    fields = context.get("fields") or {}
    param = context.get("param") or (next(iter(fields)) if fields else None)
    error_type = _OPENAI_TYPES.get(status_code) or (
        "server_error" if status_code >= 500 else "invalid_request_error"
    )
    return {
        "error": {
            "message": body.get("error"),
            "type": error_type,
            "param": param if param != "non_field_errors" else None,
            "code": str(body.get("error_code") or "").lower() or None,
            "request_id": body.get("request_id"),
            "context": context,
        }
    }


# /v1/messages speaks Anthropic's protocol, errors included: {"type": "error", "error": {"type",
# "message"}, "request_id"}, which the anthropic SDK reads into its exceptions (`e.api_message`,
# `e.type`, and `e.error_code` from `error.details.error_code`: the native code, lower case).
ANTHROPIC_PATH_PREFIX = "/v1/messages"
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status_code: int) -> str:
    default = "api_error" if status_code >= 500 else "invalid_request_error"
    return _ANTHROPIC_TYPES.get(status_code) or default


def anthropic_error_body(body: dict[str, Any], status_code: int) -> dict[str, Any]:
    """The native envelope in Anthropic's error shape, keeping the request id and context."""
    error: dict[str, Any] = {"type": anthropic_error_type(status_code), "message": body.get("error")}
    code = str(body.get("error_code") or "").lower()
    if code:
        error["details"] = {"error_code": code}
    if body.get("context"):
        error["context"] = body["context"]
    return {"type": "error", "error": error, "request_id": body.get("request_id")}


def shaped_error_body(path: str, body: dict[str, Any], status_code: int) -> dict[str, Any]:
    """The error body in the protocol the path speaks."""
    if path.startswith(ANTHROPIC_PATH_PREFIX):
        return anthropic_error_body(body, status_code)
    if path.startswith(OPENAI_PATH_PREFIX):
        return openai_error_body(body, status_code)
    return body


def error_code_for_status(status_code: int) -> str:
    return STATUS_CODES.get(status_code, "SERVER_ERROR" if status_code >= 500 else "BAD_REQUEST")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIXES)


def error_body(
    *, message: str, error_code: str, request_id: str | None, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": message,
        "error_code": error_code,
        "timestamp": timezone.now().isoformat(),
        "request_id": request_id,
        "context": context or {},
    }


def error_response(
    request,
    *,
    message: str,
    status_code: int,
    error_code: str | None = None,
    context: dict[str, Any] | None = None,
) -> JsonResponse:
    """The envelope as a plain Django response (middleware and non-DRF views)."""
    body = error_body(
        message=message,
        error_code=error_code or error_code_for_status(status_code),
        request_id=getattr(request, "request_id", None),
        context=context,
    )
    return JsonResponse(shaped_error_body(request.path, body, status_code), status=status_code)


def _flatten_validation(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as {"field.path": ["message", ...]}."""
    errors: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            errors.update(_flatten_validation(value, path))
    elif isinstance(detail, list) and detail and all(not isinstance(v, dict | list) for v in detail):
        errors[prefix or "non_field_errors"] = [str(v) for v in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                errors.update(_flatten_validation(value, f"{prefix}[{index}]" if prefix else f"[{index}]"))
    else:
        errors[prefix or "non_field_errors"] = [str(detail)]
    return errors


def _validation_message(fields: dict[str, list[str]]) -> str:
    first_field, messages = next(iter(fields.items()))
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    if first_field == "non_field_errors":
        return f"Invalid request: {messages[0]}{more}"
    return f"Invalid request: {first_field}: {messages[0]}{more}"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every exception, expected or not, leaves as the envelope."""
    request = context.get("request")
    request_id = getattr(request, "request_id", None)
    headers: dict[str, str] = {}
    if isinstance(exc, RequestDataTooBig):
        exc = ApiError("Request body is too large.", error_code="PAYLOAD_TOO_LARGE", status_code=413)
    elif isinstance(exc, SuspiciousOperation):
        # Too many query or form fields, and the like: the request's fault, never a 500.
        exc = ApiError(
            "The request is malformed or too large (for example more than "
            f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} query parameters).",
            error_code="BAD_REQUEST",
            status_code=400,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApiError):
        body = error_body(
            message=exc.message, error_code=exc.error_code, request_id=request_id, context=exc.context
        )
        headers.update(exc.headers)
        status_code = exc.status_code
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten_validation(exc.detail) or {"non_field_errors": ["Invalid input."]}
        body = error_body(
            message=_validation_message(fields),
            error_code="VALIDATION_ERROR",
            request_id=request_id,
            context={"fields": fields},
        )
        status_code = exc.status_code
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        context_: dict[str, Any] = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait) + 1)
            context_["retry_after_s"] = int(exc.wait) + 1
        if isinstance(exc, exceptions.MethodNotAllowed) and request is not None:
            context_["method"] = request.method
        body = error_body(
            message=str(exc.detail) if not isinstance(exc.detail, dict | list) else "Request failed.",
            error_code=error_code_for_status(status_code),
            request_id=request_id,
            context=context_,
        )
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
    else:
        logger.exception("unhandled_api_exception", error_type=type(exc).__name__)
        status_code = 500
        body = error_body(
            message="Internal server error.", error_code="INTERNAL_ERROR", request_id=request_id
        )
    if request is not None:
        body = shaped_error_body(request.path, body, status_code)
    return Response(body, status=status_code, headers=headers)
