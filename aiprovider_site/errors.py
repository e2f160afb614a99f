"""The web edge of the error envelope: DRF's exception handler and a plain Django response. The
envelope's data (ApiError, the bodies, the protocol shapes) lives in `core.errors`."""

from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from core.errors import ApiError, error_body, error_code_for_status, shaped_error_body

logger = structlog.get_logger(__name__)


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
