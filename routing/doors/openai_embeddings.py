"""OpenAI Embeddings (`POST /v1/embeddings`) <-> the internal request and result. Pure functions.

`embeddings_request_parse` reads the body (`input` as a string, a list of strings, a token array or
a list of token arrays; `dimensions`; `encoding_format` float or base64; `user`; the `provider`
routing object); `embeddings_render` gives OpenAI's `CreateEmbeddingResponse`.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from providers.adapters.results import Usage
from routing.doors.common import DoorError, integer_parse, keys_check, model_parse, user_parse
from routing.doors.parsed import RouteControls, route_controls_parse

# Inputs one request may carry; the gateway splits them to each provider's own limit.
MAX_INPUTS: Final = 16_384
MAX_TOKEN_ID: Final = 2**32 - 1
ENCODINGS: Final = ("float", "base64")
_TOP_LEVEL: Final = frozenset({"model", "input", "dimensions", "encoding_format", "user", "provider"})


@dataclass
class EmbeddingsInput:
    """A parsed embeddings request."""

    model: str
    inputs: tuple[str | tuple[int, ...], ...]
    dimensions: int | None = None
    encoding_format: str = "float"
    user: str | None = None
    route: RouteControls = field(default_factory=RouteControls)


def _token_array(value: list, param: str) -> tuple[int, ...]:
    if not value:
        raise DoorError(f"{param} must not be empty", param=param)
    for token in value:
        if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token <= MAX_TOKEN_ID:
            raise DoorError(f"{param} must hold token ids (non-negative integers)", param=param)
    return tuple(value)


def _inputs(value: Any) -> tuple[str | tuple[int, ...], ...]:
    if isinstance(value, str):
        if not value:
            raise DoorError("input must not be an empty string", param="input")
        return (value,)
    if not isinstance(value, list) or not value:
        raise DoorError(
            "input must be a string, a list of strings, a token array or a list of token arrays",
            param="input",
        )
    if len(value) > MAX_INPUTS:
        raise DoorError(f"input holds more than {MAX_INPUTS} items", param="input")
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return (_token_array(value, "input"),)
    items: list[str | tuple[int, ...]] = []
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if isinstance(item, str):
            if not item:
                raise DoorError(f"{where} must not be an empty string", param=where)
            items.append(item)
        elif isinstance(item, list):
            items.append(_token_array(item, where))
        else:
            raise DoorError(f"{where} must be a string or a token array", param=where)
    return tuple(items)


def embeddings_request_parse(body: Any) -> EmbeddingsInput:
    """A `/v1/embeddings` body as the internal request; DoorError when it cannot be read."""
    if not isinstance(body, dict):
        raise DoorError("the request body must be a JSON object")
    keys_check(body, _TOP_LEVEL, "")
    model = model_parse(body)
    if body.get("input") is None:
        raise DoorError("input is required", param="input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise DoorError("encoding_format must be 'float' or 'base64'", param="encoding_format")
    return EmbeddingsInput(
        model=model,
        inputs=_inputs(body["input"]),
        dimensions=integer_parse(body, "dimensions", 1, 65_536),
        encoding_format=encoding,
        user=user_parse(body),
        route=route_controls_parse(body.get("provider")),
    )


def encode_vector(values: list[float], encoding: str) -> list[float] | str:
    """A vector as OpenAI sends it: a list of floats, or base64 of little-endian float32."""
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


def embeddings_render(
    vectors: list[list[float]], *, model: str, usage: Usage, encoding_format: str, provider: str
) -> dict[str, Any]:
    """OpenAI's `CreateEmbeddingResponse`, each vector encoded as the client asked."""
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": encode_vector(vector, encoding_format)}
            for index, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens},
        "provider": provider,
    }
