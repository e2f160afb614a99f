"""The conversation of a Messages body: the system prompt, the turns, and Anthropic's tool-turn rules."""

from __future__ import annotations

from typing import Any, Final

from providers.adapters.messages import Message
from routing.doors.anthropic_messages.blocks import assistant_message, text_block, user_messages, wrong_block
from routing.doors.anthropic_messages.validation import MessagesError, block_type, keys_check

MAX_MESSAGES: Final = 100_000


def _turn_blocks(content: Any) -> list[dict]:
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _turns(raw: list[dict]) -> list[tuple[str, int, list[tuple[int, int, dict]]]]:
    """Consecutive same-role messages as one turn: (role, index of its first message, its blocks
    with their message and block indexes)."""
    turns: list[tuple[str, int, list[tuple[int, int, dict]]]] = []
    for i, message in enumerate(raw):
        blocks = [(i, j, b) for j, b in enumerate(_turn_blocks(message["content"]))]
        if turns and turns[-1][0] == message["role"]:
            turns[-1][2].extend(blocks)
        else:
            turns.append((message["role"], i, blocks))
    return turns


def _check_tool_turns(raw: list[dict]) -> None:
    """Anthropic's rules, checked before any provider is called: a user turn after `tool_use` blocks
    begins with one `tool_result` per call, and a result answers only a call of the assistant turn
    right before it."""
    turns = _turns(raw)
    for position, (role, first, blocks) in enumerate(turns):
        if role != "user":
            continue
        previous = turns[position - 1] if position else None
        calls = [b.get("id") for _, _, b in (previous[2] if previous else []) if b.get("type") == "tool_use"]
        for i, j, block in blocks:
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in calls:
                raise MessagesError(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message.",
                    param=f"messages.{i}.content.{j}.tool_use_id",
                )
        leading = []
        for _, _, block in blocks:
            if block.get("type") != "tool_result":
                break
            leading.append(block.get("tool_use_id"))
        missing = [call for call in calls if call not in leading]
        if missing:
            raise MessagesError(
                f"messages.{first}.content.0: Did not find {len(missing)} tool_result block(s) at the "
                "beginning of this message. Messages following tool_use blocks must begin with a "
                "matching number of tool_result blocks.",
                param=f"messages.{first}.content",
            )


def messages_parse(value: Any, requires: set[str]) -> list[Message]:
    """`messages` as internal messages; what only Anthropic can take is added to `requires`."""
    if not isinstance(value, list) or not value:
        raise MessagesError("messages: Field required (a non-empty list)", param="messages")
    if len(value) > MAX_MESSAGES:
        raise MessagesError(f"messages: at most {MAX_MESSAGES} messages", param="messages")
    converted: list[Message] = []
    for index, raw in enumerate(value):
        where = f"messages.{index}"
        if not isinstance(raw, dict):
            raise MessagesError(f"{where}: Input should be a valid dictionary", param=where)
        keys_check(raw, {"role", "content"}, where)
        role = raw.get("role")
        if role not in ("user", "assistant"):
            raise MessagesError(
                f"{where}.role: Input should be 'user' or 'assistant' (the system prompt is the top-level "
                "`system`)",
                param=f"{where}.role",
            )
        if "content" not in raw:
            raise MessagesError(f"{where}.content: Field required", param=f"{where}.content")
        if role == "user":
            converted += user_messages(raw["content"], where, requires)
        else:
            converted.append(assistant_message(raw["content"], where, requires))
    _check_tool_turns(value)
    if value[-1]["role"] == "assistant":
        # Prefill (Anthropic continues the assistant's text); other providers would answer anew.
        requires.add("messages.prefill")
    return converted


def system_parse(value: Any) -> list[Message]:
    """`system` (a string or text blocks) as a system message; none when it is empty."""
    if value is None:
        return []
    if isinstance(value, str):
        return [Message("system", value)] if value else []
    if not isinstance(value, list):
        raise MessagesError("system: Input should be a string or a list of text blocks", param="system")
    texts = []
    for index, block in enumerate(value):
        where = f"system.{index}"
        kind = block_type(block, where)
        if kind != "text":
            raise wrong_block(kind, where, frozenset({"text"}))
        texts.append(text_block(block, where))
    text = "\n\n".join(t for t in texts if t)
    return [Message("system", text)] if text else []
