"""The bytes of an answer: compact JSON, and a server-sent event carrying it."""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON for answers and stream events (orjson; the standard library for what
    orjson refuses, e.g. a lone surrogate a provider sent escaped)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def sse_data(obj: Any) -> bytes:
    """One `data:` event of an OpenAI-style stream."""
    return b"data: " + json_bytes(obj) + b"\n\n"
