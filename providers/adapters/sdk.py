"""What the official `openai` and `anthropic` SDK adapters share: both build on httpx2 and raise
the same shape of exceptions for timeouts and broken connections."""

from __future__ import annotations

from types import ModuleType

import httpx2

from .base import ProviderAdapter, ProviderError


def sdk_transport_error(adapter: ProviderAdapter, exc: Exception, sdk: ModuleType) -> ProviderError | None:
    """Timeouts and connection failures raised by `sdk` (openai or anthropic), or None."""
    if isinstance(exc, sdk.APITimeoutError):
        return adapter._error("timeout", "request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__
        detail = f": {type(cause).__name__}" if cause is not None else ""
        return adapter._error("connection", f"connection failed{detail}")
    if isinstance(exc, httpx2.TimeoutException):
        return adapter._error("timeout", "read timed out")
    if isinstance(exc, httpx2.TransportError):
        # The SDK wraps transport errors of the request itself, not those raised while a
        # stream's body is being read (a connection reset mid-stream).
        return adapter._error("connection", f"connection failed: {type(exc).__name__}")
    if isinstance(exc, sdk.APIResponseValidationError):
        return adapter._error("invalid_response", exc.message, status_code=exc.status_code)
    return None
