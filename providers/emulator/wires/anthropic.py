"""The Anthropic messages wire: bodies, SSE streams and error envelopes."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from ..content import (
    Answer,
    calls_answer,
    reasoning_for,
    reasoning_tokens,
)
from ..emulated import EmulatedProtocol
from ..faults import Fault
from ..features import (
    IMAGE_MEDIA_TYPES,
    ToolCall,
    ToolChoice,
    ToolSpec,
    choose_calls,
    decode_base64,
    dump_json,
    fragments,
    random_id,
    sign,
    verify,
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
    text_of,
    tools_text,
)

# What a thinking block's signature covers (the label is part of the signed bytes): the block's text.
ANTHROPIC_THINKING: Final = "anthropic-thinking"
ANTHROPIC_VERSIONS: Final = frozenset({"2023-06-01", "2026-10-21"})
# Under this API version Anthropic removed the sampling parameters.
ANTHROPIC_NO_SAMPLING_VERSION: Final = "2026-10-21"


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
    malformed_events: ClassVar[tuple[bytes, ...]] = (
        b'event: message_start\ndata: {"type": "message_start", "message": {\n\n',
    )

    def operation(self, method: str, rest: str) -> Operation | None:
        if method == "POST" and rest == "v1/messages":
            return Operation("chat")
        if method == "POST" and rest == "v1/messages/count_tokens":
            return Operation("count_tokens")
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
        key = headers.get("x-api-key") or bearer_key(headers)
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
        return (
            self._thinking_error(body)
            or self._tool_choice_error(body)
            or self._output_error(body)
            or self._image_error(messages)
            or self._tool_sequence_error(messages)
            or self._replay_error(body)
        )

    def bad_request(self, message: str) -> Reply:
        return self._error(400, "invalid_request_error", message)

    def not_found(self, message: str) -> Reply:
        return self._error(404, "not_found_error", message)

    # ---------------------------------------------------------------- request fields

    @staticmethod
    def tools(body: Mapping[str, Any]) -> list[ToolSpec]:
        """The client tools (server tools such as web search carry a versioned `type`)."""
        tools = body.get("tools")
        return [
            ToolSpec(tool["name"], tool.get("input_schema") or {})
            for tool in (tools if isinstance(tools, list) else [])
            if isinstance(tool, dict)
            and tool.get("type", "custom") == "custom"
            and isinstance(tool.get("name"), str)
        ]

    @staticmethod
    def tool_choice(body: Mapping[str, Any]) -> ToolChoice:
        raw = body.get("tool_choice")
        raw = raw if isinstance(raw, dict) else {}
        parallel = not raw.get("disable_parallel_tool_use")
        kind = raw.get("type", "auto")
        if kind == "any":
            return ToolChoice("required", parallel=parallel)
        if kind == "tool":
            return ToolChoice("named", raw.get("name"), parallel)
        return ToolChoice("none" if kind == "none" else "auto", parallel=parallel)

    @staticmethod
    def thinking(body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The thinking config when thinking is on (adaptive or enabled), else None."""
        setting = body.get("thinking")
        if isinstance(setting, dict) and setting.get("type") in ("adaptive", "enabled"):
            return setting
        return None

    @staticmethod
    def structured(body: Mapping[str, Any]) -> Structured | None:
        config = body.get("output_config")
        # `output_format` is the beta-era spelling, still accepted during the transition.
        fmt = config.get("format") if isinstance(config, dict) else body.get("output_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            return Structured(fmt.get("schema") or {})
        return None

    # ---------------------------------------------------------------- validation

    def _thinking_error(self, body: dict[str, Any]) -> Reply | None:
        setting = body.get("thinking")
        if setting is None:
            return None
        kind = setting.get("type") if isinstance(setting, dict) else None
        if kind not in ("adaptive", "enabled", "disabled"):
            return self.bad_request(
                f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
                "'adaptive', 'disabled', 'enabled'"
            )
        if kind == "enabled":
            budget = setting.get("budget_tokens")
            if not isinstance(budget, int) or isinstance(budget, bool):
                return self.bad_request("thinking.enabled.budget_tokens: Field required")
            if budget < 1024:
                return self.bad_request(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                )
            max_tokens = body.get("max_tokens")
            if isinstance(max_tokens, int) and budget >= max_tokens:
                return self.bad_request(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
                    "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                    "#max-tokens-and-context-window-size"
                )
        return None

    def _tool_choice_error(self, body: dict[str, Any]) -> Reply | None:
        choice = self.tool_choice(body)
        if choice.mode in ("required", "named") and self.thinking(body) is not None:
            return self.bad_request("Thinking may not be enabled when tool_choice forces tool use.")
        if choice.mode == "named" and choice.name not in {tool.name for tool in self.tools(body)}:
            return self.bad_request(f"tool_choice.name: Tool '{choice.name}' not found in `tools`")
        return None

    def _output_error(self, body: dict[str, Any]) -> Reply | None:
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else None
        if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "json_schema"):
            return self.bad_request("output_config.format.type: Input should be 'json_schema'")
        if isinstance(fmt, dict) and not isinstance(fmt.get("schema"), dict):
            return self.bad_request("output_config.format.schema: Field required")
        return None

    def _image_error(self, messages: list[dict[str, Any]]) -> Reply | None:
        for i, message in enumerate(messages):
            for j, block in enumerate(dict_blocks(message.get("content"))):
                if block.get("type") != "image":
                    continue
                where = f"messages.{i}.content.{j}.image.source"
                source = block.get("source") if isinstance(block.get("source"), dict) else {}
                kind = source.get("type")
                if kind == "base64":
                    if source.get("media_type") not in IMAGE_MEDIA_TYPES:
                        return self.bad_request(
                            f"{where}.base64.media_type: Input should be 'image/jpeg', 'image/png', "
                            "'image/gif' or 'image/webp'"
                        )
                    data = source.get("data")
                    if not isinstance(data, str) or not decode_base64(data, url_safe=False):
                        return self.bad_request(f"{where}.base64.data: The image data is not valid base64.")
                elif kind == "url":
                    url = source.get("url")
                    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                        return self.bad_request(f"{where}.url.url: Input should be a valid URL")
                elif kind == "file":
                    if not isinstance(source.get("file_id"), str):
                        return self.bad_request(f"{where}.file.file_id: Field required")
                else:
                    return self.bad_request(
                        f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected "
                        "tags: 'base64', 'file', 'url'"
                    )
        return None

    def _tool_sequence_error(self, messages: list[dict[str, Any]]) -> Reply | None:
        """A user turn after `tool_use` blocks begins with one `tool_result` per call; results answer
        only the calls of the assistant turn right before them."""
        for i, message in enumerate(messages):
            if message.get("role") != "user":
                continue
            previous = messages[i - 1] if i else {}
            calls = [
                block.get("id")
                for block in dict_blocks(previous.get("content"))
                if previous.get("role") == "assistant" and block.get("type") == "tool_use"
            ]
            blocks = dict_blocks(message.get("content"))
            for j, block in enumerate(blocks):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in calls:
                    return self.bad_request(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message."
                    )
            leading = []
            for block in blocks:
                if block.get("type") != "tool_result":
                    break
                leading.append(block.get("tool_use_id"))
            missing = [call for call in calls if call not in leading]
            if missing:
                return self.bad_request(
                    f"messages.{i}.content.0: Did not find {len(missing)} tool_result block(s) at the "
                    "beginning of this message. Messages following tool_use blocks must begin with a "
                    "matching number of tool_result blocks."
                )
        return None

    def _replay_error(self, body: dict[str, Any]) -> Reply | None:
        """With thinking on, the last assistant turn, if it called tools, must open with its thinking
        block, signature intact (a block the emulator signed, or a redacted one)."""
        if self.thinking(body) is None:
            return None
        messages = body["messages"]
        index = next(
            (i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "assistant"), None
        )
        if index is None:
            return None
        blocks = dict_blocks(messages[index].get("content"))
        if not any(block.get("type") == "tool_use" for block in blocks):
            return None
        first = blocks[0].get("type") if blocks else "text"
        if first not in ("thinking", "redacted_thinking"):
            return self.bad_request(
                f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a "
                "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We "
                "recommend you include thinking blocks from previous turns. To avoid this requirement, "
                "disable `thinking`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
            )
        for j, block in enumerate(blocks):
            if block.get("type") == "thinking" and not verify(
                ANTHROPIC_THINKING, str(block.get("thinking", "")), block.get("signature")
            ):
                return self.bad_request(
                    f"messages.{index}.content.{j}: Invalid `signature` in `thinking` block"
                )
        return None

    # ---------------------------------------------------------------- the answer

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        messages = body["messages"]
        tools = self.tools(body)
        texts = [text_of(body.get("system"))] if body.get("system") else []
        texts += [text_of(m.get("content")) for m in messages] + tools_text(tools)
        users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        limit = body.get("max_tokens")
        limit = limit if isinstance(limit, int) else None
        images = sum(1 for m in messages for b in dict_blocks(m.get("content")) if b.get("type") == "image")
        last = messages[-1]
        results = [b for b in dict_blocks(last.get("content")) if b.get("type") == "tool_result"]
        results = results if last.get("role") == "user" else []
        thinking = self.thinking(body)
        choice = self.tool_choice(body)
        structured = self.structured(body)
        if tools and last.get("role") == "user" and not results and choice.mode != "none":
            subject = text_of(last.get("content"))
            calls = choose_calls(tools, choice, subject)
            arguments = [dump_json(call.args, "spaced") for call in calls]
            answer = calls_answer(texts, arguments, extra_prompt_tokens=images * IMAGE_TOKENS)
            plan = Plan(answer, calls, named=choice.mode == "named", images=images)
        else:
            subject = (
                " ".join(text_of(b.get("content")) for b in results)
                if results
                else (users[-1] if users else "")
            )
            answer = answer_text(
                texts,
                subject,
                limit,
                results=bool(results),
                images=images,
                structured=structured,
                style="compact",
            )
            plan = Plan(answer, structured=structured is not None, images=images)
        if thinking is not None:
            pieces = reasoning_for(subject)
            plan.thinking = True
            plan.reasoning = [] if thinking.get("display") == "omitted" else pieces
            plan.reasoning_tokens = reasoning_tokens(pieces)
        return plan

    def count_tokens(self, body: Any) -> Reply:
        """`{"input_tokens": n}`: the whole input a message with this body reports (`input_tokens`
        plus cache reads), as POST /v1/messages/count_tokens answers."""
        if not isinstance(body, dict):
            return self.bad_request("request body is not valid JSON")
        for name in ("max_tokens", "stream", "metadata", "stop_sequences", "temperature"):
            if name in body:
                return self.bad_request(f"{name}: Extra inputs are not permitted")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self.bad_request("model: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return self.bad_request("messages: Field required")
        texts = [text_of(body.get("system"))] if body.get("system") else []
        texts += [text_of(m.get("content")) for m in messages] + tools_text(self.tools(body))
        images = sum(1 for m in messages for b in dict_blocks(m.get("content")) if b.get("type") == "image")
        answer = calls_answer(texts, [], extra_prompt_tokens=images * IMAGE_TOKENS)
        return Reply.json({"input_tokens": answer.prompt_tokens})

    @staticmethod
    def usage(answer: Answer, output_tokens: int, thinking_tokens: int | None = None) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "input_tokens": answer.prompt_tokens - answer.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": answer.cached_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
        }
        if thinking_tokens is not None:
            usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
        usage.update({"service_tier": "standard", "inference_geo": "not_available"})
        return usage

    @staticmethod
    def stop_reason(plan: Plan, filtered: bool) -> str:
        if filtered:
            return "refusal"
        if plan.calls:
            return "tool_use"
        return "max_tokens" if plan.answer.truncated else "end_turn"

    @staticmethod
    def _tool_use(call: ToolCall, streamed: bool = False) -> dict[str, Any]:
        return {
            "type": "tool_use",
            "id": random_id("toolu_01", 22),
            "name": call.name,
            "input": {} if streamed else call.args,  # a stream starts the block empty, then sends JSON
            "caller": {"type": "direct"},
        }

    def _output_tokens(self, plan: Plan) -> tuple[int, int | None]:
        """(output tokens, thinking tokens or None): output_tokens includes the thinking."""
        thinking = plan.reasoning_tokens if plan.thinking else None
        return plan.answer.completion_tokens + (thinking or 0), thinking

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        request_id = f"req_emu{secrets.token_hex(10)}"
        content: list[dict[str, Any]] = []
        if not filtered:
            if plan.thinking:
                text = "".join(plan.reasoning)
                content.append(
                    {"type": "thinking", "thinking": text, "signature": sign(ANTHROPIC_THINKING, text)}
                )
            if plan.calls:
                content += [self._tool_use(call) for call in plan.calls]
            else:
                content.append({"type": "text", "text": plan.answer.text})
        output_tokens, thinking_tokens = self._output_tokens(plan)
        return Reply.json(
            {
                "id": f"msg_emu{secrets.token_hex(10)}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": self.stop_reason(plan, filtered),
                "stop_sequence": None,
                "usage": self.usage(plan.answer, output_tokens, thinking_tokens),
            },
            headers={"request-id": request_id},
        )

    def _stream_blocks(self, plan: Plan, filtered: bool) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Each content block as (its `content_block_start` form, its deltas)."""
        if filtered:
            return [({"type": "text", "text": ""}, [])]
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        if plan.thinking:
            signature = sign(ANTHROPIC_THINKING, "".join(plan.reasoning))
            deltas = [{"type": "thinking_delta", "thinking": piece} for piece in plan.reasoning]
            # As recorded: an empty thinking_delta, then the signature just before the block ends.
            deltas += [
                {"type": "thinking_delta", "thinking": ""},
                {"type": "signature_delta", "signature": signature},
            ]
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
        if not plan.calls:
            text = [{"type": "text_delta", "text": piece} for piece in plan.answer.pieces]
            return [*blocks, ({"type": "text", "text": ""}, text)]
        for call in plan.calls:
            arguments = dump_json(call.args, "spaced")
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in ["", *fragments(arguments, 9)]
            ]
            blocks.append((self._tool_use(call, streamed=True), deltas))
        return blocks

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)

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
            "usage": self.usage(plan.answer, 1),
        }
        events = [event("message_start", {"message": message})]
        for index, (start, deltas) in enumerate(self._stream_blocks(plan, filtered)):
            events.append(event("content_block_start", {"index": index, "content_block": start}))
            if index == 0:
                events.append(event("ping", {}))
            events += [event("content_block_delta", {"index": index, "delta": delta}) for delta in deltas]
            events.append(event("content_block_stop", {"index": index}))
        terminal = len(events)
        output_tokens, thinking_tokens = self._output_tokens(plan)
        final_usage = self.usage(plan.answer, output_tokens, thinking_tokens)
        for key in ("cache_creation", "service_tier", "inference_geo"):
            final_usage.pop(key)
        events.append(
            event(
                "message_delta",
                {
                    "delta": {"stop_reason": self.stop_reason(plan, filtered), "stop_sequence": None},
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


# Before DeepSeek, which takes bare paths: `/v1/messages` is Anthropic's.
EMULATED: Final = EmulatedProtocol(
    kind="anthropic",
    wire=AnthropicWire,
    model="claude-sonnet-4-6",
    order=20,
    name_prefix="anthropic",
    paths=("v1/messages",),
    headers=("anthropic-version",),
)
