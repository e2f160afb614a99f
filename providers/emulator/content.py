"""Deterministic answers and plausible token counts for the emulator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

REPLY_PREFIX: Final = "Emulated reply to:"
ECHO_WORDS: Final = 8
# Prompt caching starts at 1,024 tokens (OpenAI's threshold); longer prompts report the
# whole 1,024-token blocks as cached, so cache accounting can be exercised end to end.
CACHE_BLOCK: Final = 1024


def count_tokens(text: str) -> int:
    """About 4 tokens per 3 words, as a rule of thumb for English."""
    words = len(text.split())
    return math.ceil(words * 4 / 3)


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


def make_answer(prompt_texts: list[str], last_user: str, max_tokens: int | None = None) -> Answer:
    """`Emulated reply to: <first words of the last user message>`, cut at `max_tokens`."""
    words = REPLY_PREFIX.split() + last_user.split()[:ECHO_WORDS]
    truncated = False
    if max_tokens is not None:
        fitting = (max_tokens * 3) // 4  # largest n with ceil(n * 4 / 3) <= max_tokens
        if fitting < len(words):
            words, truncated = words[: max(fitting, 1)], True
    pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
    prompt_tokens = sum(count_tokens(text) + 3 for text in prompt_texts)  # ~3 tokens of framing each
    completion_tokens = math.ceil(len(words) * 4 / 3)
    if max_tokens is not None:
        completion_tokens = min(completion_tokens, max(max_tokens, 1))
    cached = (prompt_tokens // CACHE_BLOCK) * CACHE_BLOCK
    return Answer(pieces, prompt_tokens, completion_tokens, cached, truncated)


def reasoning_for(last_user: str) -> list[str]:
    words = ["Thinking", "about:"] + last_user.split()[:ECHO_WORDS]
    return [word if i == 0 else " " + word for i, word in enumerate(words)]
