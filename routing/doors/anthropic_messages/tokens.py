"""The count_tokens estimate, for a model Anthropic does not serve."""

from __future__ import annotations

import json
import math
from typing import Any, Final

CHARS_PER_TOKEN: Final = 4  # about four characters a token
IMAGE_TOKENS_ESTIMATE: Final = 1600  # a ~1.15 megapixel image (Anthropic: width * height / 750)
MESSAGE_TOKENS_ESTIMATE: Final = 4  # framing of each message
# Fields of a block that are not text the model reads.
_NOT_COUNTED: Final = frozenset({"role", "type", "cache_control", "citations", "id", "tool_use_id"})


def messages_tokens_estimate(body: dict[str, Any]) -> int:
    """The documented estimate of a request's input tokens when Anthropic cannot count them: the
    characters of the system prompt, message texts, tool inputs and results and the JSON of the tool
    definitions, divided by four; 1,600 per image or document; 4 per message. Thinking from earlier
    turns is not counted (Anthropic does not count it either)."""
    chars = 0
    fixed = 0

    def walk(value: Any) -> None:
        nonlocal chars, fixed
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind in ("image", "document"):
                fixed += IMAGE_TOKENS_ESTIMATE
            elif kind in ("thinking", "redacted_thinking"):
                return
            elif kind == "tool_use":
                chars += len(json.dumps(value.get("input"), ensure_ascii=False)) + len(str(value.get("name")))
            else:
                for key, item in value.items():
                    if key not in _NOT_COUNTED:
                        walk(item)

    walk(body.get("system"))
    messages = body.get("messages") or []
    walk(messages)
    if body.get("tools"):
        chars += len(json.dumps(body["tools"], ensure_ascii=False))
    return math.ceil(chars / CHARS_PER_TOKEN) + fixed + MESSAGE_TOKENS_ESTIMATE * len(messages)
