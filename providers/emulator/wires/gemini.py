"""The Gemini generateContent wire: bodies, SSE or JSON-array streams and error envelopes."""

from __future__ import annotations

import contextvars
import json
import math
import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from ..content import (
    Answer,
    calls_answer,
    reasoning_for,
)
from ..embeddings import gemini_embeddings
from ..emulated import EmulatedProtocol
from ..faults import Fault, split_model
from ..features import (
    ToolChoice,
    ToolSpec,
    canonical_call,
    choose_calls,
    decode_base64,
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
    dict_blocks,
    text_of,
    tools_text,
)

# What each signature covers (the label is part of the signed bytes).
GEMINI_FUNCTION_CALL: Final = "gemini-function-call"  # payload: canonical JSON of {name, args}
GEMINI_TEXT: Final = "gemini-text"  # payload: the answer text
# The dummy signature some clients (pydantic-ai) send for calls Gemini did not make; the API accepts it.
GEMINI_SKIP_SIGNATURE: Final = b"skip_thought_signature_validator"

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


# The model named in the path of the request being handled (set per asyncio task by operation()).
_GEMINI_MODEL: Final[contextvars.ContextVar[str | None]] = contextvars.ContextVar(
    "gemini_model", default=None
)


def _pick(obj: Any, camel: str, snake: str) -> Any:
    """A field under its lowerCamelCase or snake_case name (protobuf JSON accepts both)."""
    if not isinstance(obj, Mapping):
        return None
    return obj[camel] if camel in obj else obj.get(snake)


def _response_text(response: Any) -> str:
    """A functionResponse as text: its `output` (or `error`) when that is all it holds, else its JSON."""
    value = response.get("response") if isinstance(response, Mapping) else None
    if isinstance(value, Mapping) and len(value) == 1 and ("output" in value or "error" in value):
        value = next(iter(value.values()))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _gemini_json(obj: Any) -> bytes:
    # The separators copy a recorded live stream: ": " after keys, no space after commas.
    return json.dumps(obj, separators=(",", ": ")).encode()


class GeminiWire(Wire):
    protocol: ClassVar[str] = "gemini"
    stream_error_after: ClassVar[int] = 1
    malformed_events: ClassVar[tuple[bytes, ...]] = (b'data: {"candidates": [{"content": \r\n\r\n',)

    def operation(self, method: str, rest: str) -> Operation | None:
        path = rest.removeprefix("v1beta/").removeprefix("v1/")
        if method == "GET" and path == "models":
            return Operation("models")
        if method == "POST" and path.startswith("models/") and ":" in path:
            model, _, verb = path.removeprefix("models/").rpartition(":")
            if verb in ("generateContent", "streamGenerateContent") and model:
                # request_error() needs the model, which Gemini names only in the path; the app
                # calls operation() and request_error() for one request in one task.
                _GEMINI_MODEL.set(model)
                return Operation("chat", path_model=model, path_method=verb)
            if verb in ("batchEmbedContents", "embedContent") and model:
                return Operation("embeddings", path_model=model, path_method=verb)
        return None

    def embeddings(self, op: Operation, body: Any, model: str) -> Reply:
        return gemini_embeddings(self, op, body, model)

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
        model = split_model(_GEMINI_MODEL.get() or "")[0]
        return (
            self._thinking_error(body)
            or self._tool_config_error(body)
            or self._part_error(contents)
            or self._function_turn_error(contents)
            or self._signature_error(contents, model)
        )

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

    # ---------------------------------------------------------------- request fields

    @staticmethod
    def thinks(model: str) -> bool:
        """Thinking models (2.5, 3.x): they count thought tokens and sign their function calls."""
        return "2.5" in model or "thinking" in model or re.search(r"(?:^|-)3(?:[.-]|$)", model) is not None

    @staticmethod
    def config(body: Mapping[str, Any]) -> Mapping[str, Any]:
        config = _pick(body, "generationConfig", "generation_config")
        return config if isinstance(config, Mapping) else {}

    @staticmethod
    def tools(body: Mapping[str, Any]) -> list[ToolSpec]:
        specs = []
        for tool in body.get("tools") or []:
            for declaration in _pick(tool, "functionDeclarations", "function_declarations") or []:
                if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                    # parametersJsonSchema is JSON Schema; parameters is Gemini's upper-case Schema.
                    schema = _pick(declaration, "parametersJsonSchema", "parameters_json_schema")
                    specs.append(ToolSpec(declaration["name"], schema or declaration.get("parameters") or {}))
        return specs

    @staticmethod
    def tool_choice(body: Mapping[str, Any]) -> ToolChoice:
        config = _pick(
            _pick(body, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config"
        )
        mode = str(_pick(config, "mode", "mode") or "AUTO").upper()
        names = _pick(config, "allowedFunctionNames", "allowed_function_names") or []
        if mode == "NONE":
            return ToolChoice("none")
        if mode == "ANY":
            if len(names) == 1:
                return ToolChoice("named", names[0])
            return ToolChoice("required", allowed=tuple(names) if names else None)
        return ToolChoice("auto")  # AUTO, VALIDATED

    @staticmethod
    def structured(config: Mapping[str, Any]) -> Structured | None:
        if _pick(config, "responseMimeType", "response_mime_type") != "application/json":
            return None
        schema = _pick(config, "responseJsonSchema", "response_json_schema")
        if schema is None:
            schema = _pick(config, "responseSchema", "response_schema")
        return Structured(schema)

    # ---------------------------------------------------------------- validation

    def _thinking_error(self, body: dict[str, Any]) -> Reply | None:
        thinking = _pick(self.config(body), "thinkingConfig", "thinking_config")
        if isinstance(thinking, Mapping) and (
            _pick(thinking, "thinkingBudget", "thinking_budget") is not None
            and _pick(thinking, "thinkingLevel", "thinking_level") is not None
        ):
            return self.bad_request(
                "thinking_budget and thinking_level are not supported together. Please use only one of them."
            )
        return None

    def _tool_config_error(self, body: dict[str, Any]) -> Reply | None:
        declared = {tool.name for tool in self.tools(body)}
        choice = self.tool_choice(body)
        for name in ([choice.name] if choice.mode == "named" else []) + list(choice.allowed or ()):
            if name not in declared:
                return self.bad_request(
                    "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                    f"function '{name}' is not declared in tools."
                )
        return None

    def _part_error(self, contents: list[dict[str, Any]]) -> Reply | None:
        for i, content in enumerate(contents):
            for j, part in enumerate(dict_blocks(content.get("parts"))):
                inline = _pick(part, "inlineData", "inline_data")
                if inline is not None:
                    mime = _pick(inline, "mimeType", "mime_type")
                    data = inline.get("data") if isinstance(inline, Mapping) else None
                    if not isinstance(mime, str) or not mime:
                        return self.bad_request(
                            f"* GenerateContentRequest.contents[{i}].parts[{j}].inline_data.mime_type: "
                            "mime_type is not specified"
                        )
                    if not isinstance(data, str) or not decode_base64(data):
                        shown = str(data)[:32]
                        return self.bad_request(
                            f"Invalid value at 'contents[{i}].parts[{j}].inline_data.data' (TYPE_BYTES), "
                            f'Base64 decoding failed for "{shown}"'
                        )
                file = _pick(part, "fileData", "file_data")
                if file is not None and not _pick(file, "fileUri", "file_uri"):
                    return self.bad_request(
                        f"* GenerateContentRequest.contents[{i}].parts[{j}].file_data.file_uri: "
                        "file_uri is not specified"
                    )
        return None

    @staticmethod
    def _count(content: Mapping[str, Any], camel: str, snake: str) -> int:
        return sum(1 for part in dict_blocks(content.get("parts")) if _pick(part, camel, snake))

    def _function_turn_error(self, contents: list[dict[str, Any]]) -> Reply | None:
        """Calls come after a user or function-response turn; responses right after their calls, one each."""
        for i, content in enumerate(contents):
            calls = self._count(content, "functionCall", "function_call")
            responses = self._count(content, "functionResponse", "function_response")
            previous = contents[i - 1] if i else {}
            if calls and (not i or previous.get("role") == "model"):
                return self.bad_request(
                    "Please ensure that function call turn comes immediately after a user turn or after a "
                    "function response turn."
                )
            if responses:
                asked = (
                    self._count(previous, "functionCall", "function_call")
                    if previous.get("role") == "model"
                    else 0
                )
                if not asked:
                    return self.bad_request(
                        "Please ensure that function response turn comes immediately after a function call "
                        "turn."
                    )
                if responses != asked:
                    return self.bad_request(
                        "Please ensure that the number of function response parts is equal to the number of "
                        "function call parts of the function call turn."
                    )
            if calls and i + 1 < len(contents):
                if not self._count(contents[i + 1], "functionResponse", "function_response"):
                    return self.bad_request(
                        "Please ensure that the number of function response parts is equal to the number of "
                        "function call parts of the function call turn."
                    )
        return None

    def _signature_error(self, contents: list[dict[str, Any]], model: str) -> Reply | None:
        """Thinking models: in the current turn (since the last user text), the first functionCall part
        of each model step carries the signature the emulator issued for it."""
        if not self.thinks(model):
            return None
        start = 0
        for i, content in enumerate(contents):
            if content.get("role", "user") == "user" and not self._count(
                content, "functionResponse", "function_response"
            ):
                start = i + 1
        for i in range(start, len(contents)):
            if contents[i].get("role") != "model":
                continue
            parts = [
                p for p in dict_blocks(contents[i].get("parts")) if _pick(p, "functionCall", "function_call")
            ]
            if not parts:
                continue
            call = _pick(parts[0], "functionCall", "function_call")
            call = call if isinstance(call, Mapping) else {}
            signature = _pick(parts[0], "thoughtSignature", "thought_signature")
            if not signature:
                return self.bad_request(
                    "Function call is missing a thought_signature in functionCall parts. This is required "
                    "for tools to work correctly, and missing thought_signature may lead to degraded model "
                    f"performance. Additional data, function call `default_api:{call.get('name')}` , "
                    f"position {i + 1}. Please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                )
            skip = isinstance(signature, str) and decode_base64(signature) == GEMINI_SKIP_SIGNATURE
            issued = canonical_call(str(call.get("name")), call.get("args", {}))
            if not skip and not verify(GEMINI_FUNCTION_CALL, issued, signature):
                return self.bad_request("Corrupted thought signature.")
        return None

    # ---------------------------------------------------------------- the answer

    def plan(self, body: dict[str, Any], model: str) -> Plan:
        system = _pick(body, "systemInstruction", "system_instruction") or {}
        config = self.config(body)
        contents = body["contents"]
        tools = self.tools(body)
        texts = [text_of(system.get("parts"))] if system else []
        texts += [text_of(c.get("parts")) for c in contents] + tools_text(tools)
        users = [text_of(c.get("parts")) for c in contents if c.get("role", "user") == "user"]
        limit = _pick(config, "maxOutputTokens", "max_output_tokens")
        limit = limit if isinstance(limit, int) else None
        images = sum(
            1
            for c in contents
            for part in dict_blocks(c.get("parts"))
            if _pick(part, "inlineData", "inline_data") or _pick(part, "fileData", "file_data")
        )
        last = contents[-1]
        responses = [
            _pick(part, "functionResponse", "function_response")
            for part in dict_blocks(last.get("parts"))
            if last.get("role", "user") == "user" and _pick(part, "functionResponse", "function_response")
        ]
        choice = self.tool_choice(body)
        if tools and last.get("role", "user") == "user" and not responses and choice.mode != "none":
            subject = text_of(last.get("parts"))
            calls = choose_calls(tools, choice, subject)
            arguments = [canonical_call(call.name, call.args) for call in calls]
            answer = calls_answer(texts, arguments, extra_prompt_tokens=images * IMAGE_TOKENS)
            plan = Plan(answer, calls, named=choice.mode == "named", images=images)
        else:
            results = [_response_text(response) for response in responses]
            subject = " ".join(results) if results else (users[-1] if users else "")
            structured = self.structured(config)
            answer = answer_text(
                texts,
                subject,
                limit,
                results=bool(results),
                images=images,
                structured=structured,
                style="pretty",
            )
            plan = Plan(answer, structured=structured is not None, images=images)
        thinking = _pick(config, "thinkingConfig", "thinking_config")
        thinking = thinking if isinstance(thinking, Mapping) else {}
        if self.thinks(model) and _pick(thinking, "thinkingBudget", "thinking_budget") != 0:
            plan.reasoning_tokens = 2 * answer.completion_tokens
            if _pick(thinking, "includeThoughts", "include_thoughts"):
                plan.reasoning = reasoning_for(subject)
        return plan

    def usage(
        self, answer: Answer, candidates_tokens: int, thoughts: int, *, candidates: bool = True
    ) -> dict[str, Any]:
        """`candidates=False`: while thoughts stream there is no candidatesTokenCount yet."""
        usage: dict[str, Any] = {"promptTokenCount": answer.prompt_tokens}
        if candidates:
            usage["candidatesTokenCount"] = candidates_tokens
        usage["totalTokenCount"] = answer.prompt_tokens + (candidates_tokens if candidates else 0) + thoughts
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

    def _call_parts(self, plan: Plan, model: str) -> list[dict[str, Any]]:
        """functionCall parts (no ids); a thinking model signs the first one only."""
        parts = []
        for index, call in enumerate(plan.calls):
            part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.args}}
            if index == 0 and self.thinks(model):
                part["thoughtSignature"] = sign(GEMINI_FUNCTION_CALL, canonical_call(call.name, call.args))
            parts.append(part)
        return parts

    def complete(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> Reply:
        plan = self.plan(body, model)
        answer = plan.answer
        if filtered:
            return Reply(
                headers={"content-type": "application/json"}, body=_gemini_json(self.blocked(answer, model))
            )
        parts: list[dict[str, Any]] = []
        if plan.reasoning:
            parts.append({"text": "".join(plan.reasoning), "thought": True})
        if plan.calls:
            parts += self._call_parts(plan, model)
            candidate: dict[str, Any] = {
                "content": {"parts": parts, "role": "model"},
                "finishReason": "STOP",  # also after function calls: clients look at the parts
                "finishMessage": "Model generated function call(s).",
                "index": 0,
            }
        else:
            part: dict[str, Any] = {"text": answer.text}
            if plan.reasoning:  # as recorded: the signature rides on the answer's last part
                part["thoughtSignature"] = sign(GEMINI_TEXT, answer.text)
            parts.append(part)
            candidate = {
                "content": {"parts": parts, "role": "model"},
                "finishReason": "MAX_TOKENS" if answer.truncated else "STOP",
                "index": 0,
            }
            if not plan.reasoning and not plan.structured:
                candidate["safetyRatings"] = [
                    {"category": c, "probability": "NEGLIGIBLE"} for c in _SAFETY_CATEGORIES
                ]
        obj = {
            "candidates": [candidate],
            "usageMetadata": self.usage(answer, answer.completion_tokens, plan.reasoning_tokens),
            "modelVersion": model,
            "responseId": self.response_id(),
        }
        return Reply(headers={"content-type": "application/json"}, body=_gemini_json(obj))

    def stream(self, body: dict[str, Any], model: str, *, filtered: bool = False) -> StreamPlan:
        plan = self.plan(body, model)
        answer = plan.answer
        if filtered:
            return StreamPlan([b"data: " + _gemini_json(self.blocked(answer, model)) + b"\r\n\r\n"], 0)
        response_id = self.response_id()

        def event(candidate: dict[str, Any], usage: dict[str, Any]) -> bytes:
            obj = {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
            return b"data: " + _gemini_json(obj) + b"\r\n\r\n"

        thoughts = plan.reasoning_tokens
        events = []
        for i in range(0, len(plan.reasoning), 3):
            text = "".join(plan.reasoning[i : i + 3])
            candidate = {"content": {"parts": [{"text": text, "thought": True}], "role": "model"}, "index": 0}
            events.append(event(candidate, self.usage(answer, 0, thoughts, candidates=False)))
        if plan.calls:
            # The calls come whole in one chunk; a last chunk with an empty text part finishes.
            usage = self.usage(answer, answer.completion_tokens, thoughts)
            events.append(
                event(
                    {"content": {"parts": self._call_parts(plan, model), "role": "model"}, "index": 0}, usage
                )
            )
            terminal = len(events)
            last = {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}
            events.append(event(last, usage))
            return StreamPlan(events, terminal)
        words = answer.pieces
        groups = ["".join(words[i : i + 3]) for i in range(0, len(words), 3)]
        for i, text in enumerate(groups):
            last_group = i == len(groups) - 1
            part: dict[str, Any] = {"text": text}
            if i == 0 and plan.reasoning:  # as recorded: the signature rides on the first answer chunk
                part["thoughtSignature"] = sign(GEMINI_TEXT, answer.text)
            candidate = {"content": {"parts": [part], "role": "model"}}
            if last_group:
                candidate["finishReason"] = "MAX_TOKENS" if answer.truncated else "STOP"
            candidate["index"] = 0
            so_far = (
                answer.completion_tokens if last_group else math.ceil(min(3 * (i + 1), len(words)) * 4 / 3)
            )
            events.append(
                event(candidate, self.usage(answer, min(so_far, answer.completion_tokens), thoughts))
            )
        return StreamPlan(events, len(events) - 1)

    def streams_as_array(self, query: Mapping[str, str]) -> bool:
        return query.get("alt") != "sse"

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


# Tried first: a `v1beta/` path is Gemini's whatever the provider is called.
EMULATED: Final = EmulatedProtocol(
    kind="gemini",
    wire=GeminiWire,
    model="gemini-2.5-flash",
    order=10,
    name_prefix="gemini",
    path_prefixes=("v1beta/",),
)
