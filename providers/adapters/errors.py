"""How a provider call fails: the error kinds, `ProviderError`, and reading a vendor's error hints.

Django-free, like every adapter module.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

ErrorKind = Literal[
    # the caller's credentials or rights
    "authentication", "permission", "quota_exceeded",
    # worth another attempt (see RETRYABLE_KINDS)
    "rate_limited", "timeout", "connection", "unavailable", "invalid_response",
    # the request itself
    "bad_request", "context_length_exceeded", "content_filtered", "not_found",
]  # fmt: skip

ERROR_KINDS: Final[frozenset[str]] = frozenset(get_args(ErrorKind))

# Worth trying again (later, or on another provider). Quota exhaustion is deliberately absent:
# retrying an empty balance only burns the deadline.
RETRYABLE_KINDS: Final[frozenset[str]] = frozenset(
    {"rate_limited", "timeout", "connection", "unavailable", "invalid_response"}
)

# Fallback when a vendor error carries nothing more specific than its HTTP status.
_STATUS_KINDS: Final[dict[int, ErrorKind]] = {
    400: "bad_request",
    401: "authentication",
    402: "quota_exceeded",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "unavailable",
    413: "bad_request",
    422: "bad_request",
    429: "rate_limited",
    504: "timeout",
}

_CONTEXT_LENGTH_RE: Final = re.compile(
    r"maximum context length|context[ _]length|context window|prompt is too long"
    r"|input token count.*exceeds|exceeds the maximum number of tokens",
    re.IGNORECASE,
)


def kind_for_status(status: int) -> ErrorKind:
    """The error kind an HTTP status implies when the body says nothing more specific."""
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    return "unavailable" if status >= 500 else "bad_request"


def looks_like_context_length(message: str | None) -> bool:
    """DeepSeek, Anthropic and Gemini report an over-long prompt as a plain 400: detect it by text."""
    return bool(message) and bool(_CONTEXT_LENGTH_RE.search(message or ""))


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def parse_duration(value: object) -> float | None:
    """A protobuf Duration string such as "47s" or "0.5s" in seconds."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return max(float(value[:-1]), 0.0)
    except ValueError:
        return None


class ProviderError(Exception):
    """A provider call failed; `kind` says how, `retryable` whether another attempt may succeed."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        provider: str,
        retryable: bool | None = None,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown provider error kind {kind!r}")
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.provider = provider
        self.retryable = kind in RETRYABLE_KINDS if retryable is None else retryable
        self.retry_after = retry_after
        self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.provider}: {self.kind}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind!r}, provider={self.provider!r}, retryable={self.retryable!r}, "
            f"retry_after={self.retry_after!r}, status_code={self.status_code!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default pickling (Celery results, multiprocessing).
        return (
            _rebuild_provider_error,
            (self.kind, self.message, self.provider, self.retryable, self.retry_after, self.status_code),
        )


def _rebuild_provider_error(
    kind: ErrorKind,
    message: str,
    provider: str,
    retryable: bool,
    retry_after: float | None,
    status_code: int | None,
) -> ProviderError:
    return ProviderError(
        kind,
        message,
        provider=provider,
        retryable=retryable,
        retry_after=retry_after,
        status_code=status_code,
    )
