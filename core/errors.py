"""The one error envelope of the API, as data: {"error","error_code","timestamp","request_id","context"},
and its OpenAI and Anthropic shapes for the paths that speak those protocols. No Django here: the web
edge (`aiprovider_site/errors.py`) turns these into responses."""

from datetime import UTC, datetime
from typing import Any

API_PATH_PREFIXES = ("/api/", "/v1/")


class ApiError(Exception):
    """An error the API answers on purpose, with its own code and context. Raised anywhere (views,
    services, authentication); the web edge renders it as the envelope."""

    status_code = 400
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
        super().__init__(message)
        self.detail = message
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
        "timestamp": datetime.now(UTC).isoformat(),
        "request_id": request_id,
        "context": context or {},
    }
