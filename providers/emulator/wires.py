"""The four wire formats the emulator speaks: bodies, SSE streams and error envelopes.

Shapes follow the reference fixtures in tests/fixtures/provider_formats (copied from the shared
provider-formats set, which the official SDKs parse); the conformance tests compare them.
"""

from __future__ import annotations

import json
import math
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from .content import Answer, make_answer, reasoning_for
from .faults import Fault

FINGERPRINT: Final = "fp_emulator"
ANTHROPIC_VERSIONS: Final = frozenset({"2023-06-01", "2026-10-21"})
# Under this API version Anthropic removed the sampling parameters.
ANTHROPIC_NO_SAMPLING_VERSION: Final = "2026-10-21"


@dataclass(slots=True)
class Reply:
    """A whole HTTP answer; `events` (if set) are sent one by one as a streamed body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    events: list[bytes] | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=json.dumps(obj).encode(),
        )


@dataclass(slots=True)
class StreamPlan:
    """A stream's events; `terminal` is the index of the first event that ends the answer
    (finish/usage/message_delta), so a cut stream stops before it."""

    events: list[bytes]
    terminal: int
    preamble: bytes = b""


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # "chat" or "models"
    path_model: str | None = None  # Gemini names the model in the path
    path_method: str | None = None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text_of(part.get("text", "")) for part in content if isinstance(part, dict))
    if isinstance(content, dict):
        return _text_of(content.get("text", ""))
    return ""


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _mask(key: str) -> str:
    return f"{key[:3]}****{key[-4:]}" if len(key) > 8 else "****"


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class Wire:
    """One protocol. Subclasses fill in the bodies; the emulator app does the routing."""

    protocol: ClassVar[str] = ""
    stream_error_after: ClassVar[int] = 2

    def __init__(self, *, invalid_key_prefixes: tuple[str, ...] = ("invalid", "bad")) -> None:
        self.invalid_key_prefixes = invalid_key_prefixes

    def key_is_invalid(self, key: str) -> bool:
        return key.lower().startswith(self.invalid_key_prefixes)

    # Every method below is implemented by the concrete wires.
    def operation(self, method: str, rest: str) -> Operation | None:
        raise NotImplementedError

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        raise NotImplementedError

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        raise NotImplementedError

    def model(self, op: Operation, body: dict[str, Any]) -> str:
        return str(body.get("model") or "")

    def is_stream(self, op: Operation, body: dict[str, Any], query: Mapping[str, str]) -> bool:
        return bool(body.get("stream"))

    def answer(self, body: dict[str, Any]) -> Answer:
        raise NotImplementedError

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        raise NotImplementedError

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        raise NotImplementedError

    def stream_headers(self, op: Operation, query: Mapping[str, str]) -> dict[str, str]:
        return {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}

    def models(self, query: Mapping[str, str]) -> Reply:
        raise NotImplementedError

    def fault_error(self, fault: Fault, model: str) -> Reply:
        """The error reply for status, rate_limit, quota, context_length and (non-streamed) stream_error."""
        raise NotImplementedError

    def stream_error_event(self) -> bytes:
        raise NotImplementedError

    def bad_request(self, message: str) -> Reply:
        raise NotImplementedError

    def not_found(self, message: str) -> Reply:
        raise NotImplementedError

    def malformed(self, stream: bool) -> Reply:
        if stream:
            events = [
                b'data: {"id": "emu-malformed", "choices": [\n\n',
                b"data: <html>upstream error</html>\n\n",
            ]
            return Reply(headers={"content-type": "text/event-stream"}, events=events)
        return Reply(
            headers={"content-type": "application/json"}, body=b"<html><body>502 Bad Gateway</body></html>"
        )


# --------------------------------------------------------------------------- OpenAI


_OPENAI_STATUS: Final[dict[int, tuple[str, str | None, str]]] = {
    400: ("invalid_request_error", None, "Invalid request (emulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    409: ("invalid_request_error", None, "The request conflicts with another request."),
    422: ("invalid_request_error", None, "Invalid parameters."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM). Please try again later.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: (
        "service_unavailable_error",
        "server_is_overloaded",
        "The server is overloaded. Please try again later.",
    ),
    504: ("server_error", None, "Gateway timeout."),
}

_OPENAI_MODELS: Final = ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4o-mini", "text-embedding-3-small")


class OpenAIWire(Wire):
    protocol: ClassVar[str] = "openai"

    def operation(self, method: str, rest: str) -> Operation | None:
        path = rest.removeprefix("v1/")
        if method == "POST" and path == "chat/completions":
            return Operation("chat")
        if method == "GET" and path == "models":
            return Operation("models")
        return None

    def _error(self, status: int, message: str, etype: str, code: str | None, **headers: str) -> Reply:
        body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
        return Reply.json(body, status, {"x-request-id": f"req_emu{secrets.token_hex(8)}", **headers})

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = _bearer(headers)
        if key is None:
            return self._error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
            )
        if self.key_is_invalid(key):
            return self._error(
                401,
                f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("We could not parse the JSON body of your request.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self.bad_request("you must provide a model parameter")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self.bad_request("[] is too short - 'messages'")
        return None

    def bad_request(self, message: str) -> Reply:
        return self._error(400, message, "invalid_request_error", None)

    def not_found(self, message: str) -> Reply:
        return self._error(404, message, "invalid_request_error", None)

    def answer(self, body: dict[str, Any]) -> Answer:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        texts = [_text_of(m.get("content")) for m in messages]
        users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        return make_answer(texts, users[-1] if users else "", limit if isinstance(limit, int) else None)

    def usage(self, answer: Answer, reasoning_tokens: int = 0) -> dict[str, Any]:
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens + reasoning_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens + reasoning_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def response_id(self) -> str:
        return f"chatcmpl-emu{secrets.token_hex(12)}"

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        answer = self.answer(body)
        finish = "content_filter" if filtered else ("length" if answer.truncated else "stop")
        message = {
            "role": "assistant",
            "content": "" if filtered else answer.text,
            "refusal": None,
            "annotations": [],
        }
        return Reply.json(
            {
                "id": self.response_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": self.usage(answer),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            },
            headers={"x-request-id": f"req_emu{secrets.token_hex(8)}"},
        )

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        answer = self.answer(body)
        options = body.get("stream_options") or {}
        head = {
            "id": self.response_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
        pad = options.get("include_obfuscation") is not False  # OpenAI pads chunks unless told not to

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            obj = {
                **head,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            obj["usage"] = None
            if pad:
                obj["obfuscation"] = secrets.token_urlsafe(6)
            return _sse(obj)

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if not filtered:
            events += [chunk({"content": piece}) for piece in answer.pieces]
        terminal = len(events)
        finish = "content_filter" if filtered else ("length" if answer.truncated else "stop")
        events.append(chunk({}, finish))
        if options.get("include_usage"):
            events.append(_sse({**head, "choices": [], "usage": self.usage(answer)}))
        events.append(b"data: [DONE]\n\n")
        return StreamPlan(events, terminal)

    def models(self, query: Mapping[str, str]) -> Reply:
        data = [
            {
                "id": name,
                "object": "model",
                "created": 1744318173,
                "owned_by": "system",
                "shutdown_date": None,
            }
            for name in _OPENAI_MODELS
        ]
        return Reply.json({"object": "list", "data": data})

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action == "rate_limit":
            seconds = float(fault.arg or 0)
            return self._error(
                429,
                f"Rate limit reached for {model} on requests per min (RPM). "
                f"Please try again in {seconds:g}s.",
                "requests",
                "rate_limit_exceeded",
                **{
                    "retry-after": str(max(math.ceil(seconds), 1)),
                    "retry-after-ms": str(int(seconds * 1000)),
                    "x-ratelimit-limit-requests": "5000",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{seconds:g}s",
                },
            )
        if fault.action == "quota":
            return self._error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "credit_balance_exhausted",
            )
        if fault.action == "context_length":
            return self._error(
                400,
                "This model's maximum context length is 1047576 tokens. However, your messages resulted in "
                "1052311 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
            )
        status = 500 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        default = (
            ("server_error", None, "Emulated server error.")
            if status >= 500
            else (
                "invalid_request_error",
                None,
                "Emulated client error.",
            )
        )
        etype, code, message = _OPENAI_STATUS.get(status, default)
        headers = {"retry-after": "1"} if status in (429, 503) else {}
        return self._error(status, message, etype, code, **headers)

    def stream_error_event(self) -> bytes:
        return _sse(
            {
                "error": {
                    "message": "The server had an error while processing your request. Sorry about that!",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        )


# --------------------------------------------------------------------------- DeepSeek


_DEEPSEEK_STATUS: Final[dict[int, tuple[str, str]]] = {
    400: ("Invalid Format", "invalid_request_error"),
    401: ("Authentication Fails", "authentication_error"),
    402: ("Insufficient Balance", "unknown_error"),
    422: ("Invalid Parameters", "invalid_request_error"),
    429: ("Rate Limit Reached", "rate_limit_error"),
    500: ("Server Error", "api_error"),
    503: ("Server Overloaded", "api_error"),
}


class DeepSeekWire(OpenAIWire):
    """The OpenAI protocol as DeepSeek speaks it: UUID ids, reasoning_content, usage on the finish chunk."""

    protocol: ClassVar[str] = "deepseek"

    @staticmethod
    def reasoning(model: str) -> bool:
        return "reasoner" in model

    def response_id(self) -> str:
        return str(uuid.uuid4())

    def _deepseek_error(self, status: int, message: str, etype: str, **headers: str) -> Reply:
        # DeepSeek puts "invalid_request_error" in `code` for most failures.
        return self._error(status, message, etype, "invalid_request_error", **headers)

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = _bearer(headers)
        if key is None or self.key_is_invalid(key):
            shown = _mask(key) if key else "(missing)"
            return self._deepseek_error(
                401, f"Authentication Fails, Your api key: {shown} is invalid", "authentication_error"
            )
        return None

    def usage(self, answer: Answer, reasoning_tokens: int = 0) -> dict[str, Any]:
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens + reasoning_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens + reasoning_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "prompt_cache_hit_tokens": answer.cached_tokens,
            "prompt_cache_miss_tokens": answer.prompt_tokens - answer.cached_tokens,
        }

    def _reasoning(self, body: dict[str, Any], model: str) -> list[str]:
        if not self.reasoning(model):
            return []
        users = [
            _text_of(m.get("content"))
            for m in body["messages"]
            if isinstance(m, dict) and m.get("role") == "user"
        ]
        return reasoning_for(users[-1] if users else "")

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        answer = self.answer(body)
        reasoning = self._reasoning(body, model)
        message: dict[str, Any] = {"role": "assistant", "content": "" if filtered else answer.text}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        finish = "content_filter" if filtered else ("length" if answer.truncated else "stop")
        return Reply.json(
            {
                "id": self.response_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": self.usage(answer, math.ceil(len(reasoning) * 4 / 3)),
                "system_fingerprint": FINGERPRINT,
            }
        )

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        answer = self.answer(body)
        reasoning = self._reasoning(body, model)
        head = {
            "id": self.response_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**head, "choices": [choice], **extra})

        if reasoning:
            events = [chunk({"role": "assistant", "content": None, "reasoning_content": ""})]
            events += [chunk({"content": None, "reasoning_content": piece}) for piece in reasoning]
        else:
            events = [chunk({"role": "assistant", "content": ""})]
        if not filtered:
            events += [chunk({"content": piece, "reasoning_content": None}) for piece in answer.pieces]
        terminal = len(events)
        finish = "content_filter" if filtered else ("length" if answer.truncated else "stop")
        usage = self.usage(answer, math.ceil(len(reasoning) * 4 / 3))
        events.append(chunk({"content": "", "reasoning_content": None}, finish, usage=usage))
        events.append(b"data: [DONE]\n\n")
        # Under load DeepSeek holds the connection with SSE comments before inference starts.
        return StreamPlan(events, terminal, preamble=b": keep-alive\n\n" if reasoning else b"")

    def models(self, query: Mapping[str, str]) -> Reply:
        data = [
            {"id": name, "object": "model", "owned_by": "deepseek"}
            for name in ("deepseek-chat", "deepseek-reasoner")
        ]
        return Reply.json({"object": "list", "data": data})

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action == "rate_limit":
            seconds = float(fault.arg or 0)
            return self._deepseek_error(
                429, "Rate Limit Reached", "rate_limit_error", **{"retry-after": f"{seconds:g}"}
            )
        if fault.action == "quota":
            return self._deepseek_error(402, "Insufficient Balance", "unknown_error")
        if fault.action == "context_length":
            return self._deepseek_error(
                400,
                "This model's maximum context length is 131072 tokens. However, you requested 140233 tokens "
                "(139233 in the messages, 1000 in the completion). Please reduce the length of the messages "
                "or completion.",
                "invalid_request_error",
            )
        status = 500 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        message, etype = _DEEPSEEK_STATUS.get(
            status, ("Server Error" if status >= 500 else "Invalid Request", "api_error")
        )
        headers = {"retry-after": "1"} if status == 429 else {}
        return self._deepseek_error(status, message, etype, **headers)


# --------------------------------------------------------------------------- Anthropic


_ANTHROPIC_STATUS: Final[dict[int, tuple[str, str]]] = {
    400: ("invalid_request_error", "Invalid request (emulated)."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed your organization's rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

_ANTHROPIC_MODELS: Final = (
    ("claude-opus-4-6", "Claude Opus 4.6", "opus"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "sonnet"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "haiku"),
)


class AnthropicWire(Wire):
    protocol: ClassVar[str] = "anthropic"
    stream_error_after: ClassVar[int] = 4  # message_start, content_block_start, ping, one delta

    def operation(self, method: str, rest: str) -> Operation | None:
        if method == "POST" and rest == "v1/messages":
            return Operation("chat")
        if method == "GET" and rest == "v1/models":
            return Operation("models")
        return None

    def _error(
        self, status: int, etype: str, message: str, details: dict | None = None, **headers: str
    ) -> Reply:
        request_id = f"req_emu{secrets.token_hex(10)}"
        error: dict[str, Any] = {"type": etype, "message": message}
        if details:
            error["details"] = details
        should_retry = "true" if status in (408, 409, 429) or status >= 500 else "false"
        return Reply.json(
            {"type": "error", "error": error, "request_id": request_id},
            status,
            {"request-id": request_id, "x-should-retry": should_retry, **headers},
        )

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = headers.get("x-api-key") or _bearer(headers)
        if not key:
            return self._error(401, "authentication_error", "x-api-key header is required")
        if self.key_is_invalid(key):
            return self._error(401, "authentication_error", "invalid x-api-key")
        version = headers.get("anthropic-version")
        if not version:
            return self._error(400, "invalid_request_error", "anthropic-version: header is required")
        if version not in ANTHROPIC_VERSIONS:
            return self._error(
                400, "invalid_request_error", f"anthropic-version: unknown version {version!r}"
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("request body is not valid JSON")
        if headers.get("anthropic-version") == ANTHROPIC_NO_SAMPLING_VERSION:
            for name in ("temperature", "top_p", "top_k"):
                if name in body:
                    return self.bad_request(f"{name}: Extra inputs are not permitted")
        if "max_tokens" not in body:
            return self.bad_request("max_tokens: Field required")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self.bad_request("model: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.bad_request("messages: Field required")
        if any(not isinstance(m, dict) or m.get("role") not in ("user", "assistant") for m in messages):
            return self.bad_request("messages: roles must be 'user' or 'assistant'")
        return None

    def bad_request(self, message: str) -> Reply:
        return self._error(400, "invalid_request_error", message)

    def not_found(self, message: str) -> Reply:
        return self._error(404, "not_found_error", message)

    def answer(self, body: dict[str, Any]) -> Answer:
        texts = [_text_of(body.get("system"))] if body.get("system") else []
        texts += [_text_of(m.get("content")) for m in body["messages"]]
        users = [_text_of(m.get("content")) for m in body["messages"] if m.get("role") == "user"]
        limit = body.get("max_tokens")
        return make_answer(texts, users[-1] if users else "", limit if isinstance(limit, int) else None)

    @staticmethod
    def usage(answer: Answer, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": answer.prompt_tokens - answer.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": answer.cached_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "standard",
            "inference_geo": "not_available",
        }

    @staticmethod
    def stop_reason(answer: Answer, filtered: bool) -> str:
        return "refusal" if filtered else ("max_tokens" if answer.truncated else "end_turn")

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        answer = self.answer(body)
        request_id = f"req_emu{secrets.token_hex(10)}"
        return Reply.json(
            {
                "id": f"msg_emu{secrets.token_hex(10)}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [] if filtered else [{"type": "text", "text": answer.text}],
                "stop_reason": self.stop_reason(answer, filtered),
                "stop_sequence": None,
                "usage": self.usage(answer, answer.completion_tokens),
            },
            headers={"request-id": request_id},
        )

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        answer = self.answer(body)

        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

        message = {
            "model": model,
            "id": f"msg_emu{secrets.token_hex(10)}",
            "type": "message",
            "role": "assistant",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(answer, 1),
        }
        events = [
            event("message_start", {"message": message}),
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            event("ping", {}),
        ]
        if not filtered:
            events += [
                event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                for piece in answer.pieces
            ]
        events.append(event("content_block_stop", {"index": 0}))
        terminal = len(events)
        final_usage = self.usage(answer, answer.completion_tokens)
        for key in ("cache_creation", "service_tier", "inference_geo"):
            final_usage.pop(key)
        events.append(
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": self.stop_reason(answer, filtered), "stop_sequence": None},
                    "usage": final_usage,
                },
            )
        )
        events.append(event("message_stop", {}))
        return StreamPlan(events, terminal)

    def models(self, query: Mapping[str, str]) -> Reply:
        entries = [
            {
                "type": "model",
                "id": model_id,
                "display_name": display,
                "created_at": "2026-02-17T00:00:00Z",
                "lifecycle": "active",
                "line": line,
                "deprecated_at": None,
                "retires_at": None,
                "max_input_tokens": 200000,
                "max_tokens": 64000,
            }
            for model_id, display, line in _ANTHROPIC_MODELS
        ]
        ids = [entry["id"] for entry in entries]
        start = ids.index(query["after_id"]) + 1 if query.get("after_id") in ids else 0
        limit = int(query.get("limit") or 20)
        page = entries[start : start + limit]
        return Reply.json(
            {
                "data": page,
                "has_more": start + limit < len(entries),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            }
        )

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action == "rate_limit":
            seconds = float(fault.arg or 0)
            return self._error(
                429,
                "rate_limit_error",
                f"This request would exceed your organization's rate limit (model: {model}).",
                **{"retry-after": f"{seconds:g}"},
            )
        if fault.action == "quota":
            return self._error(
                429,
                "rate_limit_error",
                "You have reached your specified API usage limits. "
                "You will regain access on the 1st of next month.",
                {"error_code": "enforced_spend_limit_reached"},
            )
        if fault.action == "context_length":
            return self._error(
                400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"
            )
        status = 529 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        default = (
            ("api_error", "Internal server error") if status >= 500 else ("invalid_request_error", "Error")
        )
        etype, message = _ANTHROPIC_STATUS.get(status, default)
        headers = {"retry-after": "1"} if status == 429 else {}
        return self._error(status, etype, message, **headers)

    def stream_error_event(self) -> bytes:
        data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return f"event: error\ndata: {json.dumps(data)}\n\n".encode()

    def malformed(self, stream: bool) -> Reply:
        if stream:
            events = [b'event: message_start\ndata: {"type": "message_start", "message": {\n\n']
            return Reply(headers={"content-type": "text/event-stream"}, events=events)
        return super().malformed(stream)


# --------------------------------------------------------------------------- Gemini


_GEMINI_STATUS: Final[dict[int, tuple[str, str]]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    402: ("RESOURCE_EXHAUSTED", "Your prepaid credits are exhausted."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}

_GEMINI_MODELS: Final = (
    ("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576, 65536, ["generateContent", "countTokens"]),
    ("gemini-2.5-pro", "Gemini 2.5 Pro", 1048576, 65536, ["generateContent", "countTokens"]),
    ("gemini-2.0-flash", "Gemini 2.0 Flash", 1048576, 8192, ["generateContent", "countTokens"]),
    ("gemini-embedding-001", "Gemini Embedding 001", 2048, 1, ["embedContent"]),
)

_SAFETY_CATEGORIES: Final = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)


def _gemini_json(obj: Any) -> bytes:
    # The separators copy a recorded live stream: ": " after keys, no space after commas.
    return json.dumps(obj, separators=(",", ": ")).encode()


class GeminiWire(Wire):
    protocol: ClassVar[str] = "gemini"
    stream_error_after: ClassVar[int] = 1

    def __init__(
        self, *, invalid_key_prefixes: tuple[str, ...] = ("invalid", "bad"), models_page_size: int = 2
    ):
        super().__init__(invalid_key_prefixes=invalid_key_prefixes)
        # Deliberately small pages, so clients must follow nextPageToken.
        self.models_page_size = models_page_size

    def operation(self, method: str, rest: str) -> Operation | None:
        path = rest.removeprefix("v1beta/").removeprefix("v1/")
        if method == "GET" and path == "models":
            return Operation("models")
        if method == "POST" and path.startswith("models/") and ":" in path:
            model, _, verb = path.removeprefix("models/").rpartition(":")
            if verb in ("generateContent", "streamGenerateContent") and model:
                return Operation("chat", path_model=model, path_method=verb)
        return None

    def _error(self, status: int, rpc_status: str, message: str, details: list | None = None) -> Reply:
        error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
        if details:
            error["details"] = details
        return Reply.json({"error": error}, status)

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = headers.get("x-goog-api-key") or query.get("key")
        if not key:
            return self._error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        if self.key_is_invalid(key):
            message = "API key not valid. Please pass a valid API key."
            return self._error(
                400,
                "INVALID_ARGUMENT",
                message,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": message,
                    },
                ],
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        if not isinstance(body, dict):
            return self.bad_request("Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.bad_request("* GenerateContentRequest.contents: contents is not specified")
        for content in contents:
            if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
                return self.bad_request("Please use a valid role: user, model.")
        return None

    def bad_request(self, message: str) -> Reply:
        return self._error(400, "INVALID_ARGUMENT", message)

    def not_found(self, message: str) -> Reply:
        return self._error(404, "NOT_FOUND", message)

    def model(self, op: Operation, body: dict[str, Any]) -> str:
        return op.path_model or ""

    def is_stream(self, op: Operation, body: dict[str, Any], query: Mapping[str, str]) -> bool:
        return op.path_method == "streamGenerateContent"

    def stream_headers(self, op: Operation, query: Mapping[str, str]) -> dict[str, str]:
        if query.get("alt") == "sse":
            return {"content-type": "text/event-stream"}
        return {"content-type": "application/json; charset=UTF-8"}

    def answer(self, body: dict[str, Any]) -> Answer:
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        config = body.get("generationConfig") or body.get("generation_config") or {}
        texts = [_text_of(system.get("parts"))] if system else []
        texts += [_text_of(c.get("parts")) for c in body["contents"]]
        users = [_text_of(c.get("parts")) for c in body["contents"] if c.get("role", "user") == "user"]
        limit = config.get("maxOutputTokens", config.get("max_output_tokens"))
        return make_answer(texts, users[-1] if users else "", limit if isinstance(limit, int) else None)

    @staticmethod
    def thinks(model: str) -> bool:
        return "2.5" in model or "thinking" in model

    def usage(self, answer: Answer, model: str, candidates_tokens: int) -> dict[str, Any]:
        thoughts = 2 * answer.completion_tokens if self.thinks(model) else 0
        usage: dict[str, Any] = {
            "promptTokenCount": answer.prompt_tokens,
            "candidatesTokenCount": candidates_tokens,
            "totalTokenCount": answer.prompt_tokens + candidates_tokens + thoughts,
        }
        if answer.cached_tokens:
            usage["cachedContentTokenCount"] = answer.cached_tokens
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}]
        if answer.cached_tokens:
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": answer.cached_tokens}]
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def blocked(self, answer: Answer, model: str) -> dict[str, Any]:
        ratings: list[dict[str, Any]] = [
            {"category": c, "probability": "NEGLIGIBLE"} for c in _SAFETY_CATEGORIES
        ]
        ratings[-1] = {"category": _SAFETY_CATEGORIES[-1], "probability": "HIGH", "blocked": True}
        usage = {
            "promptTokenCount": answer.prompt_tokens,
            "totalTokenCount": answer.prompt_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}],
        }
        return {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": ratings},
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": self.response_id(),
        }

    @staticmethod
    def response_id() -> str:
        return f"emu{secrets.token_urlsafe(16)}"

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        answer = self.answer(body)
        if filtered:
            return Reply(
                headers={"content-type": "application/json"}, body=_gemini_json(self.blocked(answer, model))
            )
        candidate = {
            "content": {"parts": [{"text": answer.text}], "role": "model"},
            "finishReason": "MAX_TOKENS" if answer.truncated else "STOP",
            "index": 0,
            "safetyRatings": [{"category": c, "probability": "NEGLIGIBLE"} for c in _SAFETY_CATEGORIES],
        }
        obj = {
            "candidates": [candidate],
            "usageMetadata": self.usage(answer, model, answer.completion_tokens),
            "modelVersion": model,
            "responseId": self.response_id(),
        }
        return Reply(headers={"content-type": "application/json"}, body=_gemini_json(obj))

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        answer = self.answer(body)
        if filtered:
            return StreamPlan([b"data: " + _gemini_json(self.blocked(answer, model)) + b"\r\n\r\n"], 0)
        response_id = self.response_id()
        words = answer.pieces
        groups = ["".join(words[i : i + 3]) for i in range(0, len(words), 3)]
        events = []
        for i, text in enumerate(groups):
            last = i == len(groups) - 1
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
            if last:
                candidate["finishReason"] = "MAX_TOKENS" if answer.truncated else "STOP"
            candidate["index"] = 0
            so_far = answer.completion_tokens if last else math.ceil(min(3 * (i + 1), len(words)) * 4 / 3)
            obj = {
                "candidates": [candidate],
                "usageMetadata": self.usage(answer, model, min(so_far, answer.completion_tokens)),
                "modelVersion": model,
                "responseId": response_id,
            }
            events.append(b"data: " + _gemini_json(obj) + b"\r\n\r\n")
        return StreamPlan(events, len(events) - 1)

    def json_array(self, events: list[bytes]) -> bytes:
        """The stream as one JSON array, which is what Gemini sends without `alt=sse`."""
        items = [event.removeprefix(b"data: ").rstrip(b"\r\n") for event in events]
        return b"[" + b",\r\n".join(items) + b"]"

    def models(self, query: Mapping[str, str]) -> Reply:
        entries = [
            {
                "name": f"models/{model_id}",
                "version": "001",
                "displayName": display,
                "inputTokenLimit": input_limit,
                "outputTokenLimit": output_limit,
                "supportedGenerationMethods": methods,
            }
            for model_id, display, input_limit, output_limit, methods in _GEMINI_MODELS
        ]
        start = int(query["pageToken"]) if query.get("pageToken", "").isdigit() else 0
        size = min(int(query.get("pageSize") or 50), self.models_page_size)
        obj: dict[str, Any] = {"models": entries[start : start + size]}
        if start + size < len(entries):
            obj["nextPageToken"] = str(start + size)
        return Reply.json(obj)

    def fault_error(self, fault: Fault, model: str) -> Reply:
        if fault.action in ("rate_limit", "quota"):
            per_day = fault.action == "quota"
            seconds = 3600.0 if per_day else float(fault.arg or 0)
            quota_id = (
                "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
                if per_day
                else "GenerateContentPaidTierInputTokensPerModelPerMinute"
            )
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                            "quotaId": quota_id,
                            "quotaDimensions": {"location": "global", "model": model},
                            "quotaValue": "250" if per_day else "4000000",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"},
            ]
            return self._error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details. "
                f"Please retry in {seconds:g}s.",
                details,
            )
        if fault.action == "context_length":
            return self._error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1052311) exceeds the maximum number of tokens allowed (1048576).",
            )
        status = 503 if fault.action == "stream_error" else int(fault.arg or 500)
        return self.status_error(status)

    def status_error(self, status: int) -> Reply:
        rpc_status, message = _GEMINI_STATUS.get(
            status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT", "Error")
        )
        details = None
        if status == 429:
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]
        return self._error(status, rpc_status, message, details)

    def stream_error_event(self) -> bytes:
        # After the 200, Gemini writes the error as plain (pretty-printed) JSON, without `data:`.
        error = {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        }
        return json.dumps(error, indent=2).encode().replace(b"\n", b"\r\n") + b"\r\n"

    def malformed(self, stream: bool) -> Reply:
        if stream:
            events = [b'data: {"candidates": [{"content": \r\n\r\n']
            return Reply(headers={"content-type": "text/event-stream"}, events=events)
        return super().malformed(stream)
