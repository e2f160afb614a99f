"""Embeddings in the emulator: OpenAI's `POST /v1/embeddings` and Gemini's
`models/{model}:batchEmbedContents` / `:embedContent`, answered deterministically.

A vector is a function of the model and the text only (SHAKE-256 of both, read as numbers in
[-1, 1], cut to the requested dimensions, normalised to length 1), so the same model answers the
same vector at every provider and on every run, and a shorter vector is a normalised prefix of the
full one (as with Matryoshka models). Token counts follow the emulator's rule of about four
characters a token (`count_chars_tokens`); a token array counts its length.

Limits, as the real APIs enforce them: OpenAI takes at most 2,048 inputs and 300,000 tokens a
request and 8,192 tokens an input; Gemini's batchEmbedContents takes at most 100 requests and
2,048 tokens an input. `dimensions` / `outputDimensionality` must lie between 1 and the model's size.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import TYPE_CHECKING, Any, Final

from .content import count_chars_tokens
from .wires.base import Reply

if TYPE_CHECKING:
    from .wires.base import Operation
    from .wires.gemini import GeminiWire
    from .wires.openai import OpenAIWire

# model -> (default dimensions, tokens per input); a dated or suffixed name matches its prefix.
OPENAI_MODELS: Final[dict[str, tuple[int, int]]] = {
    "text-embedding-3-small": (1536, 8192),
    "text-embedding-3-large": (3072, 8192),
    "text-embedding-ada-002": (1536, 8192),
}
GEMINI_MODELS: Final[dict[str, tuple[int, int]]] = {
    "gemini-embedding-001": (3072, 2048),
    "text-embedding-004": (768, 2048),
}
OPENAI_MAX_INPUTS: Final = 2048
OPENAI_MAX_REQUEST_TOKENS: Final = 300_000
GEMINI_MAX_BATCH: Final = 100
_SCALE: Final = 2.0 / 0xFFFFFFFF


def _spec(models: dict[str, tuple[int, int]], model: str) -> tuple[int, int] | None:
    for name, spec in models.items():
        if model == name or model.startswith(name + "-"):
            return spec
    return None


def vector(model: str, text: str, dimensions: int) -> list[float]:
    """The emulator's embedding of `text` by `model`: `dimensions` numbers, length 1."""
    raw = hashlib.shake_256(f"{model}\n{text}".encode()).digest(4 * dimensions)
    values = [n * _SCALE - 1.0 for n in struct.unpack(f"<{dimensions}I", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def tokens_of(item: str | list[int]) -> int:
    return len(item) if isinstance(item, list) else count_chars_tokens(item)


def _text_key(item: str | list[int]) -> str:
    return item if isinstance(item, str) else "tokens:" + ",".join(map(str, item))


def encode_base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


# ---------------------------------------------------------------------------------- OpenAI


def _openai_inputs(raw: Any) -> list[str | list[int]] | None:
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        return [list(raw)]
    if all(isinstance(x, str) for x in raw):
        return list(raw)
    if all(isinstance(x, list) and x and all(isinstance(t, int) for t in x) for x in raw):
        return [list(x) for x in raw]
    return None


def openai_embeddings(wire: OpenAIWire, body: Any, model: str) -> Reply:
    if not isinstance(body, dict):
        return wire.bad_request("We could not parse the JSON body of your request.")
    spec = _spec(OPENAI_MODELS, model)
    if spec is None:
        return wire._error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    native, limit = spec
    inputs = _openai_inputs(body.get("input"))
    if inputs is None or any(item == "" for item in inputs):
        return wire.bad_request("'$.input' is invalid. Please check the API reference.", "input")
    if len(inputs) > OPENAI_MAX_INPUTS:
        return wire.bad_request(
            f"'$.input' is too long: {len(inputs)} inputs, the maximum is {OPENAI_MAX_INPUTS}.", "input"
        )
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if model.startswith("text-embedding-ada-002"):
            return wire.bad_request("This model does not support specifying dimensions.", "dimensions")
        if not isinstance(dimensions, int) or not 1 <= dimensions <= native:
            return wire.bad_request(f"dimensions must be between 1 and {native}.", "dimensions")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        return wire.bad_request("encoding_format must be 'float' or 'base64'.", "encoding_format")
    counts = [tokens_of(item) for item in inputs]
    refused = _openai_token_refusal(wire, counts, limit)
    if refused is not None:
        return refused
    total = sum(counts)
    size = dimensions or native
    data = []
    for index, item in enumerate(inputs):
        values = vector(model, _text_key(item), size)
        data.append(
            {
                "object": "embedding",
                "index": index,
                "embedding": encode_base64(values) if encoding == "base64" else values,
            }
        )
    return Reply.json(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": total, "total_tokens": total},
        }
    )


def _openai_token_refusal(wire: OpenAIWire, counts: list[int], limit: int) -> Reply | None:
    """The refusal of inputs over the model's context or over the request's token budget."""
    for count in counts:
        if count > limit:
            return wire.bad_request(
                f"This model's maximum context length is {limit} tokens, however you requested {count} "
                f"tokens ({count} in your prompt; 0 for the completion). Please reduce your prompt; or "
                "completion length.",
            )
    total = sum(counts)
    if total > OPENAI_MAX_REQUEST_TOKENS:
        return wire.bad_request(
            f"Requested {total} tokens, max {OPENAI_MAX_REQUEST_TOKENS} tokens per request", "input"
        )
    return None


# ---------------------------------------------------------------------------------- Gemini


def _gemini_text(content: Any) -> str | None:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
        return None
    texts = [part.get("text") for part in content["parts"] if isinstance(part, dict)]
    if not texts or not all(isinstance(t, str) for t in texts):
        return None
    return "".join(texts)


def _gemini_one(wire: GeminiWire, request: Any, model: str, native: int, limit: int, where: str):
    """(vector, None) for one EmbedContentRequest, or (None, error reply)."""
    if not isinstance(request, dict):
        return None, wire.bad_request(f"Invalid value at '{where}'")
    text = _gemini_text(request.get("content"))
    if text is None:
        return None, wire.bad_request(f"* {where}.content: content must have at least one text part")
    size = request.get("outputDimensionality", request.get("output_dimensionality"))
    if size is not None and (not isinstance(size, int) or not 1 <= size <= native):
        return None, wire.bad_request(f"* {where}.output_dimensionality: must be between 1 and {native}")
    count = count_chars_tokens(text)
    if count > limit:
        return None, wire.bad_request(
            f"The input token count ({count}) exceeds the maximum number of tokens allowed ({limit})."
        )
    return vector(model, text, size or native), None


def gemini_embeddings(wire: GeminiWire, op: Operation, body: Any, model: str) -> Reply:
    if not isinstance(body, dict):
        return wire.bad_request("Invalid JSON payload received.")
    spec = _spec(GEMINI_MODELS, model)
    if spec is None:
        return wire.not_found(
            f"models/{model} is not found for API version v1beta, or is not supported for {op.path_method}."
        )
    native, limit = spec
    if op.path_method == "embedContent":
        values, error = _gemini_one(wire, body, model, native, limit, "EmbedContentRequest")
        return error or Reply.json({"embedding": {"values": values}})
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        return wire.bad_request("* BatchEmbedContentsRequest.requests: requests is not specified")
    if len(requests) > GEMINI_MAX_BATCH:
        return wire.bad_request(
            f"* BatchEmbedContentsRequest.requests: at most {GEMINI_MAX_BATCH} requests can be in one batch"
        )
    embeddings = []
    for index, request in enumerate(requests):
        where = f"BatchEmbedContentsRequest.requests[{index}]"
        named = request.get("model") if isinstance(request, dict) else None
        if named is not None and named != f"models/{model}":
            return wire.bad_request(
                f"* {where}.model: the model of each request ({named}) must be the model of the batch "
                f"(models/{model})"
            )
        values, error = _gemini_one(wire, request, model, native, limit, where)
        if error is not None:
            return error
        embeddings.append({"values": values})
    return Reply.json({"embeddings": embeddings})
