"""The DeepSeek dialect of the OpenAI wire."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from ..content import (
    Answer,
    reasoning_for,
    reasoning_tokens,
)
from ..emulated import EmulatedProtocol
from ..faults import Fault, split_model
from ..features import (
    JsonStyle,
    random_id,
)
from .base import (
    Plan,
    Reply,
    StreamPlan,
    bearer_key,
    mask_key,
    sse_event,
    text_of,
)
from .openai import FINGERPRINT, OpenAIWire, openai_choice

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
    """The OpenAI protocol as DeepSeek speaks it: UUID ids, reasoning_content, usage on the finish chunk,
    `call_00_` ids with an `index` on every call, JSON mode only, images only on vision models."""

    protocol: ClassVar[str] = "deepseek"
    openai_options: ClassVar[bool] = False
    json_style: ClassVar[JsonStyle] = "pretty"
    arguments_style: ClassVar[JsonStyle] = "spaced"

    @staticmethod
    def thinking(body: Mapping[str, Any], model: str) -> bool:
        """Thinking mode: `thinking.type` says so, else the model does ("reasoner")."""
        setting = body.get("thinking")
        kind = setting.get("type") if isinstance(setting, dict) else None
        if kind in ("enabled", "disabled"):
            return kind == "enabled"
        return "reasoner" in model

    def response_id(self) -> str:
        return str(uuid.uuid4())

    def call_id(self, index: int) -> str:
        return random_id(f"call_{index:02d}_")

    def _deepseek_error(self, status: int, message: str, etype: str, **headers: str) -> Reply:
        # DeepSeek puts "invalid_request_error" in `code` for most failures.
        return self._error(status, message, etype, "invalid_request_error", **headers)

    def auth_error(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Reply | None:
        key = bearer_key(headers)
        if key is None or self.key_is_invalid(key):
            shown = mask_key(key) if key else "(missing)"
            return self._deepseek_error(
                401, f"Authentication Fails, Your api key: {shown} is invalid", "authentication_error"
            )
        return None

    def request_error(self, body: Any, headers: Mapping[str, str]) -> Reply | None:
        error = super().request_error(body, headers)
        if error is not None or not self.thinking(body, split_model(body["model"])[0]):
            return error
        if body.get("tools") and openai_choice(body).mode in ("required", "named"):
            return self.bad_request("Thinking mode does not support this tool_choice")
        for message in body["messages"]:
            if (
                isinstance(message, dict)
                and message.get("role") == "assistant"
                and message.get("tool_calls")
                and message.get("reasoning_content") is None
            ):
                return self.bad_request(
                    "The reasoning_content in the thinking mode must be passed back to the API"
                )
        return None

    def json_schema_error(self) -> Reply | None:
        return self.bad_request("This response_format type is unavailable now")

    @staticmethod
    def sees_images(model: str) -> bool:
        return "flash" in model or "vision" in model

    def vision_refusal(self, index: int, part: int) -> Reply:
        # What DeepSeek's text-only models say about an image part.
        return self.bad_request(
            f"Failed to deserialize the JSON body into the target type: messages[{index}]: "
            "unknown variant `image_url`, expected `text`"
        )

    def usage(self, answer: Answer, reasoning_tokens: int = 0, choices: int = 1) -> dict[str, Any]:
        return {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens + reasoning_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens + reasoning_tokens,
            "prompt_tokens_details": {"cached_tokens": answer.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "prompt_cache_hit_tokens": answer.cached_tokens,
            "prompt_cache_miss_tokens": answer.prompt_tokens - answer.cached_tokens,
        }

    def reasoning_pieces(self, body: dict[str, Any], model: str, subject: str) -> list[str]:
        return reasoning_for(subject) if self.thinking(body, model) else []

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        plan = super().plan(body, model)
        if plan.calls:  # the model thinks before it calls tools too (about the user text that asked)
            last = [m for m in body["messages"] if isinstance(m, dict)][-1]
            subject = text_of(last.get("content"))
            plan.reasoning = self.reasoning_pieces(body, model, subject)
            plan.reasoning_tokens = reasoning_tokens(plan.reasoning)
        return plan

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        message: dict[str, Any] = {"role": "assistant", "content": "" if filtered else plan.answer.text}
        if plan.reasoning:
            message["reasoning_content"] = "".join(plan.reasoning)
        if plan.calls and not filtered:
            message["tool_calls"] = [{"index": i, **self._call(call, i)} for i, call in enumerate(plan.calls)]
        finish = "tool_calls" if plan.calls and not filtered else self._finish(plan, filtered)
        return Reply.json(
            {
                "id": self.response_id(),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": self.usage(plan.answer, plan.reasoning_tokens),
                "system_fingerprint": FINGERPRINT,
            }
        )

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)
        calls = bool(plan.calls) and not filtered
        head = {
            "id": self.response_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            if calls:  # the recorded tool-call stream has `"usage": null` on every other chunk
                extra.setdefault("usage", None)
            return sse_event({**head, "choices": [choice], **extra})

        if plan.reasoning:
            events = [chunk({"role": "assistant", "content": None, "reasoning_content": ""})]
            events += [chunk({"content": None, "reasoning_content": piece}) for piece in plan.reasoning]
        else:
            events = [chunk({"role": "assistant", "content": ""})]
        if calls:
            events += self._call_deltas(plan, chunk, first=False)
        elif not filtered:
            events += [chunk({"content": piece, "reasoning_content": None}) for piece in plan.answer.pieces]
        terminal = len(events)
        finish = "tool_calls" if calls else self._finish(plan, filtered)
        usage = self.usage(plan.answer, plan.reasoning_tokens)
        events.append(chunk({"content": "", "reasoning_content": None}, finish, usage=usage))
        events.append(b"data: [DONE]\n\n")
        # Under load DeepSeek holds the connection with SSE comments before inference starts.
        keep_alive = plan.reasoning and not calls
        return StreamPlan(events, terminal, preamble=b": keep-alive\n\n" if keep_alive else b"")

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


# After the protocols with their own paths: a bare path without `v1/` is DeepSeek's.
EMULATED: Final = EmulatedProtocol(
    kind="deepseek",
    wire=DeepSeekWire,
    model="deepseek-chat",
    order=30,
    name_prefix="deepseek",
    bare_paths=True,
)
