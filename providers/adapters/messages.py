"""What the gateway asks of a provider: messages and their parts, tools, and the chat request.

Django-free, like every adapter module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message: an `https://` URL or a `data:<mime>;base64,...` URL."""

    url: str
    detail: str | None = None

    @property
    def is_data(self) -> bool:
        return self.url.startswith("data:")

    def data(self) -> tuple[str, str]:
        """(media type, base64 data) of a `data:` URL."""
        head, _, data = self.url.partition(",")
        media_type = head.removeprefix("data:").split(";")[0] or "application/octet-stream"
        return media_type, data

    def media_type(self) -> str:
        """The media type of a data URL, or the one an https URL's extension suggests."""
        if self.is_data:
            return self.data()[0]
        path = self.url.split("?")[0].lower()
        for ext, mime in (
            (".png", "image/png"),
            (".gif", "image/gif"),
            (".webp", "image/webp"),
            (".heic", "image/heic"),
        ):
            if path.endswith(ext):
                return mime
        return "image/jpeg"


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model made. `arguments` is the JSON text (OpenAI's convention);
    `signature` is an opaque provider token that must go back with the call (Gemini)."""

    id: str
    name: str
    arguments: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningPart:
    """Reasoning that came with an answer: DeepSeek's `reasoning_content`, an Anthropic thinking
    block with its signature (or a redacted one, `redacted` holding its data), a Gemini thought.

    `protocol` names the adapter kind that produced it: signatures are only valid there."""

    text: str
    signature: str | None = None
    redacted: str | None = None
    protocol: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. `content` is always the text (parts joined); `parts` is set when the client sent
    a list of parts and one of them is not text (images).

    Assistant turns may carry `tool_calls` (then `content` may be empty) and the `reasoning` that
    preceded them; a `tool` turn answers the call named by `tool_call_id`."""

    role: str
    content: str
    parts: tuple[ContentPart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: tuple[ReasoningPart, ...] = ()

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function tool: `parameters` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`auto`, `none`, `required`, or `function` with the `name` the model must call."""

    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """`text`, `json_object`, or `json_schema` with its schema (OpenAI's Structured Outputs)."""

    type: Literal["text", "json_object", "json_schema"]
    schema: dict | None = None
    name: str | None = None
    description: str | None = None
    strict: bool | None = None

    def as_openai(self) -> dict[str, Any]:
        if self.type != "json_schema":
            return {"type": self.type}
        spec: dict[str, Any] = {"name": self.name or "response"}
        if self.description:
            spec["description"] = self.description
        if self.schema is not None:
            spec["schema"] = self.schema
        if self.strict is not None:
            spec["strict"] = self.strict
        return {"type": "json_schema", "json_schema": spec}


# Request features an adapter may or may not carry (see `ProviderAdapter.unsupported`). Options
# (seed, logprobs, ...) are named by their OpenAI parameter name.
FEATURE_TOOLS: Final = "tools"
FEATURE_IMAGES: Final = "image_url"
FEATURE_JSON_OBJECT: Final = "response_format.json_object"
FEATURE_JSON_SCHEMA: Final = "response_format.json_schema"
FEATURE_REASONING: Final = "reasoning_effort"
FEATURE_PARALLEL_OFF: Final = "parallel_tool_calls"
FEATURE_FORCED_TOOL: Final = "tool_choice"

# OpenAI chat parameters the internal request carries by name in `ChatRequest.options`.
OPENAI_OPTIONS: Final[frozenset[str]] = frozenset(
    {
        "seed",
        "n",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "metadata",
        "service_tier",
        "store",
        "prompt_cache_key",
        "safety_identifier",
        "verbosity",
    }
)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    user: str | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    # Every other OpenAI parameter the client sent (seed, n, logprobs, top_logprobs,
    # presence_penalty, frequency_penalty, metadata, service_tier, logit_bias, ...), by name.
    options: dict[str, Any] = field(default_factory=dict)
    # The client's request in a provider's own protocol, for adapters of that protocol to send as
    # is (pass-through): {"protocol": "anthropic", "body": {...}, "headers": {...}, "beta": bool,
    # "requires": [...]}. `requires` names what only that protocol can carry (features of the
    # request for every other adapter); the fields above are the translation the others send.
    native: dict[str, Any] | None = None

    def features(self) -> set[str]:
        """What this request asks of a provider beyond plain text chat."""
        wanted: set[str] = set(self.options)
        if self.native:
            wanted.update(self.native.get("requires") or ())
        if self.tools:
            wanted.add(FEATURE_TOOLS)
            if self.tool_choice is not None and self.tool_choice.mode in ("required", "function"):
                wanted.add(FEATURE_FORCED_TOOL)
            if self.parallel_tool_calls is False:
                wanted.add(FEATURE_PARALLEL_OFF)
        if any(m.images for m in self.messages):
            wanted.add(FEATURE_IMAGES)
        if self.response_format is not None and self.response_format.type == "json_object":
            wanted.add(FEATURE_JSON_OBJECT)
        if self.response_format is not None and self.response_format.type == "json_schema":
            wanted.add(FEATURE_JSON_SCHEMA)
        if self.reasoning_effort is not None:
            wanted.add(FEATURE_REASONING)
        return wanted

    def without(self, features: set[str]) -> ChatRequest:
        """This request with `features` left out (the client's documented opt-in to drop them)."""
        if not features:
            return self
        changes: dict[str, Any] = {"options": {k: v for k, v in self.options.items() if k not in features}}
        if FEATURE_TOOLS in features:
            changes.update(tools=None, tool_choice=None, parallel_tool_calls=None)
        if FEATURE_FORCED_TOOL in features and self.tool_choice is not None:
            changes["tool_choice"] = ToolChoice("auto")
        if FEATURE_PARALLEL_OFF in features:
            changes["parallel_tool_calls"] = None
        if features & {FEATURE_JSON_OBJECT, FEATURE_JSON_SCHEMA}:
            changes["response_format"] = None
        if FEATURE_REASONING in features:
            changes["reasoning_effort"] = None
        if FEATURE_IMAGES in features:
            changes["messages"] = [
                replace(m, parts=tuple(p for p in m.parts if not isinstance(p, ImagePart)))
                for m in self.messages
            ]
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """One call's worth of embedding inputs (at most the adapter's `max_batch`): texts, or token
    arrays (lists of token ids, OpenAI protocol only). `dimensions`: a shorter vector than the
    model's default, where the model can give one."""

    model: str
    inputs: list[str | list[int]]
    dimensions: int | None = None
    user: str | None = None

