"""The interface's own rules: error kinds, retryability, retry hints."""

from __future__ import annotations

import email.utils
import pickle
import time

import pytest

from providers.adapters import ERROR_KINDS, RETRYABLE_KINDS, ProviderError
from providers.adapters.errors import (
    kind_for_status,
    looks_like_context_length,
    parse_duration,
    parse_retry_after,
)


def test_error_kinds_are_the_documented_set():
    assert ERROR_KINDS == {
        "authentication",
        "permission",
        "rate_limited",
        "timeout",
        "connection",
        "unavailable",
        "bad_request",
        "context_length_exceeded",
        "content_filtered",
        "not_found",
        "invalid_response",
        "quota_exceeded",
    }
    assert "quota_exceeded" not in RETRYABLE_KINDS


@pytest.mark.parametrize("kind", sorted(ERROR_KINDS))
def test_retryable_defaults_by_kind(kind):
    error = ProviderError(kind, "boom", provider="openai")

    assert error.retryable is (
        kind in {"rate_limited", "timeout", "connection", "unavailable", "invalid_response"}
    )


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        ProviderError("exploded", "boom", provider="openai")


def test_provider_error_survives_pickling():
    error = ProviderError("rate_limited", "slow down", provider="openai", retry_after=2.0, status_code=429)

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.kind, copy.message, copy.provider, copy.retryable, copy.retry_after, copy.status_code) == (
        "rate_limited",
        "slow down",
        "openai",
        True,
        2.0,
        429,
    )
    assert str(copy) == "openai: rate_limited: slow down"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "1"}, 0.25),
        ({}, None),
        ({"retry-after": "soon"}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)

    assert 25 <= parse_retry_after({"retry-after": when}) <= 30


@pytest.mark.parametrize(("value", "expected"), [("47s", 47.0), ("0.5s", 0.5), ("47", None), (None, None)])
def test_parse_duration(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("This model's maximum context length is 131072 tokens. However, you requested 140000 tokens", True),
        ("prompt is too long: 208310 tokens > 200000 maximum", True),
        ("The input token count (1052311) exceeds the maximum number of tokens allowed (1048576).", True),
        ("max_tokens: Field required", False),
        ("Insufficient Balance", False),
        (None, False),
    ],
)
def test_context_length_detection(message, expected):
    assert looks_like_context_length(message) is expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "bad_request"),
        (401, "authentication"),
        (402, "quota_exceeded"),
        (403, "permission"),
        (404, "not_found"),
        (408, "timeout"),
        (418, "bad_request"),
        (429, "rate_limited"),
        (500, "unavailable"),
        (504, "timeout"),
        (529, "unavailable"),
    ],
)
def test_kind_for_status(status, kind):
    assert kind_for_status(status) == kind
