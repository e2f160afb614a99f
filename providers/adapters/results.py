"""What a provider answers: usage counts, responses, stream chunks, embeddings and model listings.

Django-free, like every adapter module.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .messages import ReasoningPart, ToolCall

logger = logging.getLogger(__name__)

@dataclass(slots=True)
class Usage:
    """What one answer used, normalised across providers: every token class the provider reports.

    `prompt_tokens` is ALL input (cached reads, cache writes, tool results and every modality
    included) and `completion_tokens` ALL output (reasoning included); the other fields are parts
    of one of those two, so `total_tokens` is their sum and nothing is counted twice. Text is
    whatever remains after the parts named here.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Part of prompt_tokens read from the provider's prompt cache.
    cached_tokens: int = 0
    # Part of completion_tokens spent on reasoning / thinking.
    reasoning_tokens: int = 0
    # Part of prompt_tokens written to the prompt cache (all TTLs), and the part of that kept for
    # one hour (Anthropic bills 5-minute and 1-hour writes differently).
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    # Parts of prompt_tokens by modality (images include documents, as Gemini bills them), and the
    # part of each served from the cache (part of cached_tokens too).
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    input_video_tokens: int = 0
    cached_audio_tokens: int = 0
    cached_image_tokens: int = 0
    cached_video_tokens: int = 0
    # Part of prompt_tokens that is tool output fed back by the provider itself (Gemini).
    tool_input_tokens: int = 0
    # Parts of completion_tokens by modality.
    output_audio_tokens: int = 0
    output_image_tokens: int = 0

    def __post_init__(self) -> None:
        # The adapter boundary: whatever a provider reports, every count is an int within
        # [0, MAX_REPORTED_TOKENS], so a bogus figure is cut here instead of failing a record later.
        for name in USAGE_FIELDS:
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= MAX_REPORTED_TOKENS:
                setattr(self, name, _sane_token_count(name, value))

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self, *, nonzero: bool = False) -> dict[str, int]:
        """The counts by field name (for caches and queues); `nonzero` leaves zeros out."""
        values = {name: getattr(self, name) for name in USAGE_FIELDS}
        return {k: v for k, v in values.items() if v} if nonzero else values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Usage:
        """Counts stored by field name; names this version does not know are ignored, so an entry
        written by a newer or older version still reads."""
        known = {name: int(value or 0) for name, value in (data or {}).items() if name in USAGE_FIELDS}
        return cls(**known)


USAGE_FIELDS: Final[tuple[str, ...]] = tuple(f for f in Usage.__dataclass_fields__)
# The most tokens one answer may report in any class: far beyond any context window (a few million
# tokens), so only a provider's bogus count is ever cut, and small enough that a record's token
# columns (PostgreSQL integer) and its cost at any list price fit their database types.
MAX_REPORTED_TOKENS: Final = 100_000_000


def _sane_token_count(name: str, value: Any) -> int:
    """A reported count as an int in [0, MAX_REPORTED_TOKENS]; logged, as it means a provider bug."""
    try:
        count = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        count = 0
    sane = min(max(count, 0), MAX_REPORTED_TOKENS)
    if value is not None and sane != value:  # None: not reported, which is fine
        logger.warning("usage count %s=%r reported by a provider was taken as %d", name, value, sane)
    return sane


@dataclass(slots=True)
class ChatChoice:
    """An extra choice when the client asked for `n > 1` (the first one is the response itself)."""

    content: str
    finish_reason: str
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass(slots=True)
class ChatResponse:
    content: str
    finish_reason: str
    usage: Usage
    model: str
    response_id: str | None
    provider_details: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)
    # The reasoning as the provider returned it; `reasoning_text` is what clients are shown.
    reasoning: list[ReasoningPart] = field(default_factory=list)
    refusal: str | None = None
    logprobs: dict[str, Any] | None = None
    more_choices: list[ChatChoice] = field(default_factory=list)

    @property
    def reasoning_text(self) -> str:
        return "".join(part.text for part in self.reasoning)


@dataclass(slots=True)
class ToolCallDelta:
    """A streamed piece of a tool call, OpenAI style: the first piece for an `index` brings `id`
    and `name`, later ones only argument fragments. Adapters whose provider sends whole calls
    send them as one piece."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class ChatChunk:
    """One piece of a stream.

    Adapters yield exactly one terminal chunk, last, carrying `finish_reason` and (when the
    provider reports it) `usage`, plus the complete `tool_calls` and `reasoning_parts` of the
    answer (for replay bookkeeping); earlier chunks carry text in `delta`, reasoning text in
    `reasoning` and tool-call pieces in `tool_call_deltas`, any of them possibly empty.
    """

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    response_id: str | None = None
    reasoning: str = ""
    tool_call_deltas: list[ToolCallDelta] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_parts: list[ReasoningPart] = field(default_factory=list)
    # The provider's own stream event this chunk came from, when the request was sent in that
    # provider's protocol (`ChatRequest.native`): the door of that protocol forwards it as is.
    native: dict[str, Any] | None = None


def estimate_text_tokens(text: str) -> int:
    """A provider-independent token estimate without a tokenizer: about four ASCII characters a
    token, and a token for every other character (CJK and the like are roughly one each)."""
    if text.isascii():  # the common case, without a pass over the characters in Python
        return max(1, math.ceil(len(text) / 4))
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return max(1, math.ceil(ascii_chars / 4) + (len(text) - ascii_chars))


@dataclass(slots=True)
class EmbeddingResponse:
    """One vector per input, in input order; `usage_estimated` when the provider reported no token
    count and `usage` is the gateway's estimate."""

    vectors: list[list[float]]
    usage: Usage
    model: str
    usage_estimated: bool = False


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    context_window: int | None = None
    max_output_tokens: int | None = None

