"""The OpenAI chat completions wire: bodies, SSE streams and error envelopes."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

from ..content import (
    Answer,
    calls_answer,
    reasoning_tokens,
)
from ..embeddings import openai_embeddings
from ..emulated import EmulatedProtocol
from ..faults import Fault, split_model
from ..features import (
    JsonStyle,
    ToolCall,
    ToolChoice,
    ToolSpec,
    choose_calls,
    dump_json,
    fragments,
    parse_data_url,
    random_id,
)
from .base import (
    IMAGE_TOKENS,
    Operation,
    Plan,
    Reply,
    StreamPlan,
    Structured,
    Wire,
    answer_text,
    bearer_key,
    dict_blocks,
    interleave,
    mask_key,
    sse_event,
    text_of,
    tools_text,
)

FINGERPRINT: Final = "fp_emulator"


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


# Reasoning tokens an OpenAI reasoning model spends per `reasoning_effort` (never shown as text).
_EFFORT_TOKENS: Final[dict[str, int]] = {
    "minimal": 16,
    "low": 64,
    "medium": 256,
    "high": 1024,
    "xhigh": 2048,
    "max": 4096,
}
# Deterministic runners-up for `top_logprobs`.
_ALTERNATIVE_TOKENS: Final = tuple(
    " the| a|,|.| and| of| to| in| is| it| that| for| on| with| as| at| by| this| be| or".split("|")
)


def _openai_tools(body: Mapping[str, Any]) -> list[ToolSpec]:
    tools = body.get("tools")
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and tool.get("type", "function") == "function":
            if isinstance(function.get("name"), str):
                specs.append(ToolSpec(function["name"], function.get("parameters") or {}))
    return specs


def openai_choice(body: Mapping[str, Any]) -> ToolChoice:
    raw = body.get("tool_choice")
    parallel = body.get("parallel_tool_calls") is not False
    if raw in ("none", "auto", "required"):
        return ToolChoice(raw, parallel=parallel)
    if isinstance(raw, dict) and raw.get("type") == "function":
        return ToolChoice("named", (raw.get("function") or {}).get("name"), parallel)
    if isinstance(raw, dict) and raw.get("type") == "allowed_tools":
        allowed = raw.get("allowed_tools") or {}
        names = tuple(
            (tool.get("function") or {}).get("name", "")
            for tool in allowed.get("tools") or []
            if isinstance(tool, dict)
        )
        return ToolChoice("required" if allowed.get("mode") == "required" else "auto", None, parallel, names)
    return ToolChoice("auto", parallel=parallel)


def _logprob_entry(piece: str, position: int, top: int) -> dict[str, Any]:
    logprob = -round(0.0001 + 0.05 * ((position * 7) % 5), 4)
    tokens = [piece] + [t for t in _ALTERNATIVE_TOKENS if t != piece]
    return {
        "token": piece,
        "logprob": logprob,
        "bytes": list(piece.encode()),
        "top_logprobs": [
            {"token": t, "logprob": round(logprob - 1.5 * j, 4), "bytes": list(t.encode())}
            for j, t in enumerate(tokens[:top])
        ],
    }


class OpenAIWire(Wire):
    protocol: ClassVar[str] = "openai"
    # OpenAI-only options: n, logprobs, reasoning_effort as hidden reasoning tokens, service_tier.
    openai_options: ClassVar[bool] = True
    json_style: ClassVar[JsonStyle] = "compact"  # structured answers
    arguments_style: ClassVar[JsonStyle] = "compact"  # tool-call argument strings

    def operation(self, method: str, rest: str) -> Operation | None:
        path = rest.removeprefix("v1/")
        if method == "POST" and path == "chat/completions":
            return Operation("chat")
        if method == "GET" and path == "models":
            return Operation("models")
        if method == "POST" and path == "embeddings" and self.protocol == "openai":
            return Operation("embeddings")
        return None

    def embeddings(self, op: Operation, body: Any, model: str) -> Reply:
        return openai_embeddings(self, body, model)

    def _error(
        self,
        status: int,
        message: str,
        etype: str,
        code: str | None,
        *,
        param: str | None = None,
        **headers: str,
    ) -> Reply:
        body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
        return Reply.json(body, status, {"x-request-id": f"req_emu{secrets.token_hex(8)}", **headers})

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = bearer_key(headers)
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
                f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
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
        return (
            self._image_error(body)
            or self._tool_sequence_error(body)
            or self._tool_choice_error(body)
            or self._response_format_error(body)
            or self._options_error(body)
        )

    def bad_request(self, message: str, param: str | None = None) -> Reply:
        return self._error(400, message, "invalid_request_error", None, param=param)

    def not_found(self, message: str) -> Reply:
        return self._error(404, message, "invalid_request_error", None)

    # ---------------------------------------------------------------- validation

    @staticmethod
    def sees_images(model: str) -> bool:
        return not model.startswith("gpt-3.5")

    def vision_refusal(self, index: int, part: int) -> Reply:
        return self.bad_request(
            "Invalid content type. image_url is only supported by certain models.",
            f"messages.[{index}].content.[{part}].type",
        )

    def _image_error(self, body: dict[str, Any]) -> Reply | None:
        model = split_model(body["model"])[0]
        for i, message in enumerate(body["messages"]):
            content = message.get("content") if isinstance(message, dict) else None
            for j, part in enumerate(dict_blocks(content)):
                if part.get("type") != "image_url":
                    continue
                if not self.sees_images(model):
                    return self.vision_refusal(i, j)
                where = f"messages[{i}].content[{j}].image_url.url"
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else None
                if not isinstance(url, str) or not url:
                    return self.bad_request(f"Missing required parameter: '{where}'.", where)
                if url.startswith("data:"):
                    if parse_data_url(url) is None:
                        return self.bad_request(
                            f"Invalid '{where}'. Expected a base64-encoded data URL with an image MIME type "
                            "(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got an invalid value.",
                            where,
                        )
                elif not url.startswith(("https://", "http://")):
                    return self.bad_request(
                        f"Invalid '{where}'. Expected a valid URL, but got a value with an invalid format.",
                        where,
                    )
        return None

    def _tool_sequence_error(self, body: dict[str, Any]) -> Reply | None:
        """Every assistant tool call answered by the `tool` messages right after it, and no others."""
        pending: list[Any] = []  # ids of the last assistant message's calls not answered yet
        caller = 0
        for i, message in enumerate(body["messages"]):
            if not isinstance(message, dict):
                continue
            if message.get("role") == "tool":
                if message.get("tool_call_id") not in pending:
                    return self.bad_request(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                        "message with 'tool_calls'.",
                        f"messages.[{i}].role",
                    )
                pending.remove(message.get("tool_call_id"))
                continue
            if pending:
                break
            calls = message.get("tool_calls")
            if message.get("role") == "assistant" and isinstance(calls, list) and calls:
                pending, caller = [c.get("id") for c in calls if isinstance(c, dict)], i
        if pending:
            return self.bad_request(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(str(p) for p in pending)}",
                f"messages.[{caller}].role",
            )
        return None

    def _tool_choice_error(self, body: dict[str, Any]) -> Reply | None:
        if "tool_choice" in body and body["tool_choice"] is not None and not body.get("tools"):
            return self.bad_request(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice",
            )
        choice = openai_choice(body)
        if choice.mode == "named" and choice.name not in {t.name for t in _openai_tools(body)}:
            return self.bad_request(
                f"Invalid value for 'tool_choice': function '{choice.name}' is not among the 'tools'.",
                "tool_choice",
            )
        return None

    def json_schema_error(self) -> Reply | None:
        """The answer to a `json_schema` response_format this API cannot serve (None: it can)."""
        return None

    def _response_format_error(self, body: dict[str, Any]) -> Reply | None:
        response_format = body.get("response_format")
        if response_format is None:
            return None
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return self.bad_request(
                f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
                "response_format.type",
            )
        if kind == "json_schema":
            refusal = self.json_schema_error()
            if refusal is not None:
                return refusal
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                return self.bad_request(
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    "response_format.json_schema.name",
                )
        return None

    def _options_error(self, body: dict[str, Any]) -> Reply | None:
        if not self.openai_options:
            return None
        n = body.get("n", 1)
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
            return self.bad_request(f"Invalid 'n': expected an integer between 1 and 128, got {n!r}.", "n")
        top = body.get("top_logprobs")
        if top is not None and (not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20):
            return self.bad_request(
                f"Invalid 'top_logprobs': expected an integer between 0 and 20, got {top!r}.", "top_logprobs"
            )
        effort = body.get("reasoning_effort")
        if effort is not None and effort != "none" and effort not in _EFFORT_TOKENS:
            return self.bad_request(
                f"Invalid value: '{effort}'. Supported values are: 'none', "
                + ", ".join(f"'{e}'" for e in _EFFORT_TOKENS)
                + ".",
                "reasoning_effort",
            )
        return None

    # ---------------------------------------------------------------- the answer

    def reasoning_pieces(self, body: dict[str, Any], model: str, subject: str) -> list[str]:
        """The visible chain of thought (none on OpenAI's Chat Completions)."""
        return []

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        tools = _openai_tools(body)
        texts = [text_of(m.get("content")) for m in messages] + tools_text(tools)
        users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        limit = limit if isinstance(limit, int) else None
        images = sum(
            1 for m in messages for part in dict_blocks(m.get("content")) if part.get("type") == "image_url"
        )
        last = messages[-1] if messages else {}
        choice = openai_choice(body)
        if tools and last.get("role") == "user" and choice.mode != "none":
            calls = choose_calls(tools, choice, text_of(last.get("content")))
            arguments = [dump_json(call.args, self.arguments_style) for call in calls]
            answer = calls_answer(texts, arguments, extra_prompt_tokens=images * IMAGE_TOKENS)
            return Plan(answer, calls, named=choice.mode == "named", images=images)
        # The answer replies to the tool results that end the conversation, else to the last user text.
        trailing = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            trailing.insert(0, text_of(message.get("content")))
        subject = " ".join(trailing) if trailing else (users[-1] if users else "")
        structured = self.structured(body)
        answer = answer_text(
            texts,
            subject,
            limit,
            results=bool(trailing),
            images=images,
            structured=structured,
            style=self.json_style,
        )
        reasoning = self.reasoning_pieces(body, model, subject)
        spent = reasoning_tokens(reasoning)
        effort = body.get("reasoning_effort")
        if self.openai_options and effort in _EFFORT_TOKENS:
            # Hidden reasoning, bounded (like the answer) by max_completion_tokens.
            room = limit - answer.completion_tokens if limit is not None else _EFFORT_TOKENS[effort]
            spent = max(1, min(_EFFORT_TOKENS[effort], room))
        return Plan(
            answer,
            reasoning=reasoning,
            reasoning_tokens=spent,
            structured=structured is not None,
            images=images,
        )

    @staticmethod
    def structured(body: Mapping[str, Any]) -> Structured | None:
        response_format = body.get("response_format")
        if not isinstance(response_format, dict):
            return None
        if response_format.get("type") == "json_object":
            return Structured()
        if response_format.get("type") == "json_schema":
            return Structured((response_format.get("json_schema") or {}).get("schema") or {})
        return None

    def usage(self, answer: Answer, reasoning_tokens: int = 0, choices: int = 1) -> dict[str, Any]:
        completion = (answer.completion_tokens + reasoning_tokens) * choices
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": answer.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning_tokens * choices,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def response_id(self) -> str:
        return f"chatcmpl-emu{secrets.token_hex(12)}"

    def call_id(self, index: int) -> str:
        return random_id("call_")

    def _call(self, call: ToolCall, index: int) -> dict[str, Any]:
        return {
            "id": self.call_id(index),
            "type": "function",
            "function": {"name": call.name, "arguments": dump_json(call.args, self.arguments_style)},
        }

    @staticmethod
    def _finish(plan: Plan, filtered: bool) -> str:
        if filtered:
            return "content_filter"
        if plan.calls:
            return "stop" if plan.named else "tool_calls"  # OpenAI's trap: "stop" after a named tool_choice
        return "length" if plan.answer.truncated else "stop"

    def _options(self, body: Mapping[str, Any]) -> tuple[int, int | None, str]:
        """(n, top_logprobs if logprobs were asked for, service tier to report)."""
        if not self.openai_options:
            return 1, None, "default"
        n = body.get("n") or 1
        top = int(body.get("top_logprobs") or 0) if body.get("logprobs") is True else None
        tier = body.get("service_tier")
        return n, top, tier if tier in ("flex", "priority", "scale") else "default"

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        n, top, tier = self._options(body)
        choices = []
        for index in range(n):
            logprobs = None
            if plan.calls and not filtered:
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [self._call(call, i) for i, call in enumerate(plan.calls)],
                    "refusal": None,
                    "annotations": [],
                }
            else:
                text = "" if filtered else plan.answer.text
                message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
                if top is not None:
                    pieces = [] if filtered else plan.answer.pieces
                    logprobs = {
                        "content": [_logprob_entry(p, i, top) for i, p in enumerate(pieces)],
                        "refusal": None,
                    }
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": logprobs,
                    "finish_reason": self._finish(plan, filtered),
                }
            )
        return Reply.json(
            {
                "id": self.response_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": self.usage(plan.answer, plan.reasoning_tokens, n),
                "service_tier": tier,
                "system_fingerprint": FINGERPRINT,
            },
            headers={"x-request-id": f"req_emu{secrets.token_hex(8)}"},
        )

    def _call_deltas(
        self, plan: Plan, emit: Callable[[dict[str, Any]], bytes], *, first: bool
    ) -> list[bytes]:
        """The tool calls as deltas: per call, a head item (id, type, name, `arguments: ""`), then
        argument fragments cut every few characters. With `first`, the head of call 0 also opens
        the message (role, `content: null`, refusal), as in tools-stream.sse."""
        events = []
        for index, call in enumerate(plan.calls):
            head = self._call(call, index)
            arguments = head["function"]["arguments"]
            head = {"index": index, **head, "function": {"name": call.name, "arguments": ""}}
            if first and index == 0:
                events.append(
                    emit({"role": "assistant", "content": None, "tool_calls": [head], "refusal": None})
                )
            else:
                events.append(emit({"tool_calls": [head]}))
            events += [
                emit({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in fragments(arguments)
            ]
        return events

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)
        n, top, tier = self._options(body)
        options = body.get("stream_options") or {}
        head = {
            "id": self.response_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "service_tier": tier,
            "system_fingerprint": FINGERPRINT,
        }
        pad = options.get("include_obfuscation") is not False  # OpenAI pads chunks unless told not to

        def chunk(
            delta: dict[str, Any], finish: str | None = None, index: int = 0, logprobs: Any = None
        ) -> bytes:
            obj = {
                **head,
                "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
            }
            obj["usage"] = None
            if pad:
                obj["obfuscation"] = secrets.token_urlsafe(6)
            return sse_event(obj)

        bodies: list[list[bytes]] = []
        for index in range(n):
            if plan.calls and not filtered:
                bodies.append(self._call_deltas(plan, lambda d, i=index: chunk(d, index=i), first=True))
                continue
            events = [chunk({"role": "assistant", "content": "", "refusal": None}, index=index)]
            if not filtered:
                for position, piece in enumerate(plan.answer.pieces):
                    logprobs = None
                    if top is not None:
                        logprobs = {"content": [_logprob_entry(piece, position, top)], "refusal": None}
                    events.append(chunk({"content": piece}, index=index, logprobs=logprobs))
            bodies.append(events)
        events = interleave(bodies)
        terminal = len(events)
        events += [chunk({}, self._finish(plan, filtered), index) for index in range(n)]
        if options.get("include_usage"):
            events.append(
                sse_event({**head, "choices": [], "usage": self.usage(plan.answer, plan.reasoning_tokens, n)})
            )
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
        return sse_event(
            {
                "error": {
                    "message": "The server had an error while processing your request. Sorry about that!",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        )


# The highest order: OpenAI's wire answers every request no other protocol recognises.
EMULATED: Final = EmulatedProtocol(kind="openai", wire=OpenAIWire, model="gpt-4.1-mini", order=50)
