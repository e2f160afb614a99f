"""Deterministic answers and plausible token counts for the emulator."""

from __future__ import annotations

import math
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

REPLY_PREFIX: Final = "Emulated reply to:"
TOOL_REPLY_PREFIX: Final = "Emulated reply to tool results:"
ECHO_WORDS: Final = 8
# Prompt caching starts at 1,024 tokens (OpenAI's threshold); longer prompts report the
# whole 1,024-token blocks as cached, so cache accounting can be exercised end to end.
CACHE_BLOCK: Final = 1024
# Structured text (JSON) is streamed in pieces of this many characters, cut anywhere.
JSON_PIECE_CHARS: Final = 12
# Set for one request by the `prompt_tokens:<n>` fault: the prompt tokens reported instead of the count.
REPORTED_PROMPT_TOKENS: ContextVar[int | None] = ContextVar("reported_prompt_tokens", default=None)


def count_tokens(text: str) -> int:
    """About 4 tokens per 3 words, as a rule of thumb for English."""
    words = len(text.split())
    return math.ceil(words * 4 / 3)


def count_chars_tokens(text: str) -> int:
    """About 4 characters a token: the rule for JSON and other text without many spaces."""
    return max(1, math.ceil(len(text) / 4))


@dataclass(frozen=True, slots=True)
class Answer:
    pieces: list[str]  # the answer text in stream-sized pieces
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    truncated: bool  # cut short by the token limit

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def _prompt_tokens(prompt_texts: list[str], extra: int) -> tuple[int, int]:
    reported = REPORTED_PROMPT_TOKENS.get()
    if reported is not None:
        return reported, 0
    prompt_tokens = sum(count_tokens(text) + 3 for text in prompt_texts) + extra  # ~3 tokens of framing each
    return prompt_tokens, (prompt_tokens // CACHE_BLOCK) * CACHE_BLOCK


def make_answer(
    prompt_texts: list[str],
    last_user: str,
    max_tokens: int | None = None,
    *,
    prefix: str = REPLY_PREFIX,
    suffix: str = "",
    extra_prompt_tokens: int = 0,
) -> Answer:
    """`<prefix> <first words of last_user> <suffix>`, cut at `max_tokens`.

    The defaults give the plain answer, `Emulated reply to: <first words of the last user message>`.
    """
    words = prefix.split() + last_user.split()[:ECHO_WORDS] + suffix.split()
    truncated = False
    if max_tokens is not None:
        fitting = (max_tokens * 3) // 4  # largest n with ceil(n * 4 / 3) <= max_tokens
        if fitting < len(words):
            words, truncated = words[: max(fitting, 1)], True
    pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
    prompt_tokens, cached = _prompt_tokens(prompt_texts, extra_prompt_tokens)
    completion_tokens = math.ceil(len(words) * 4 / 3)
    if max_tokens is not None:
        completion_tokens = min(completion_tokens, max(max_tokens, 1))
    return Answer(pieces, prompt_tokens, completion_tokens, cached, truncated)


def text_answer(
    text: str, prompt_texts: list[str], max_tokens: int | None = None, *, extra_prompt_tokens: int = 0
) -> Answer:
    """A fixed text (a JSON document) as the answer, in pieces cut every few characters.

    Past `max_tokens` the text is cut off, as a real model's JSON would be.
    """
    tokens = count_chars_tokens(text)
    truncated = False
    if max_tokens is not None and tokens > max_tokens:
        text, tokens, truncated = text[: max(max_tokens, 1) * 4], max(max_tokens, 1), True
    pieces = [text[i : i + JSON_PIECE_CHARS] for i in range(0, len(text), JSON_PIECE_CHARS)]
    prompt_tokens, cached = _prompt_tokens(prompt_texts, extra_prompt_tokens)
    return Answer(pieces, prompt_tokens, tokens, cached, truncated)


def calls_answer(prompt_texts: list[str], arguments: list[str], *, extra_prompt_tokens: int = 0) -> Answer:
    """The token accounting of an answer made of tool calls (no text): the arguments plus framing."""
    completion = sum(count_chars_tokens(text) + 8 for text in arguments)
    prompt_tokens, cached = _prompt_tokens(prompt_texts, extra_prompt_tokens)
    return Answer([], prompt_tokens, completion, cached, False)


def reasoning_for(last_user: str) -> list[str]:
    words = ["Thinking", "about:"] + last_user.split()[:ECHO_WORDS]
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def reasoning_tokens(pieces: list[str]) -> int:
    """Tokens spent on a chain of thought made of these word pieces."""
    return math.ceil(len(pieces) * 4 / 3)
