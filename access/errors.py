"""The errors access answers with, in the standard envelope."""

from core.errors import ApiError

AUTH_SCHEMES = ["Bearer", "X-API-Key"]
HOW_TO_AUTHENTICATE = "Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."


def authentication_failed(*, reason: str) -> ApiError:
    """401 with `WWW-Authenticate: Bearer`. The presented secret is never echoed."""
    if reason == "missing":
        message = f"An API key is required. {HOW_TO_AUTHENTICATE}"
    else:
        message = "The API key is invalid or has been revoked."
    return ApiError(
        message,
        status_code=401,
        error_code="AUTHENTICATION_FAILED",
        context={"reason": reason, "schemes": AUTH_SCHEMES},
        headers={"WWW-Authenticate": "Bearer"},
    )


def permission_denied(message: str, *, error_code: str = "PERMISSION_DENIED", **context) -> ApiError:
    return ApiError(message, status_code=403, error_code=error_code, context=context)


# Seconds a client should wait before retrying when keys cannot be checked.
KEY_STORE_RETRY_AFTER_S = 5


def authentication_unavailable() -> ApiError:
    """503 while the key store (the database) is unreachable and the key is not cached: the key
    may be fine, so this is not a 401."""
    return ApiError(
        "API keys cannot be checked right now; retry shortly.",
        status_code=503,
        error_code="AUTHENTICATION_UNAVAILABLE",
        context={"retry_after_s": KEY_STORE_RETRY_AFTER_S},
        headers={"Retry-After": str(KEY_STORE_RETRY_AFTER_S)},
    )
