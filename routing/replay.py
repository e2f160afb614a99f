"""What a provider needs back on the next turn that an OpenAI-format client cannot carry.

Anthropic wants its thinking blocks (with signatures) replayed before the `tool_use` blocks they
led to, Gemini wants each call's `thoughtSignature`, DeepSeek's thinking mode wants the turn's
`reasoning_content`. A Chat Completions client sends back only the tool calls it was given, so the
gateway keeps these, keyed by the tool-call ids it handed out (per API key, for a limited time),
and puts them back on the assistant turn when the conversation returns.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import structlog
from django.conf import settings

from core.shared_state import shared_state
from providers.adapters.messages import Message, ReasoningPart, ToolCall

logger = structlog.get_logger(__name__)


def _key(api_key_id: int | None, call_id: str) -> str:
    return f"replay:{api_key_id or 0}:{call_id}"


async def replay_remember(
    *, api_key_id: int | None, tool_calls: list[ToolCall], reasoning: list[ReasoningPart]
) -> None:
    """Keep the signatures and reasoning of an answer that called tools (best effort)."""
    if not tool_calls or settings.REPLAY_TTL_S <= 0:
        return
    keep_reasoning = [p for p in reasoning if p.signature or p.redacted or p.text]
    if not keep_reasoning and not any(call.signature for call in tool_calls):
        return
    state = shared_state()
    try:
        for index, call in enumerate(tool_calls):
            entry: dict[str, Any] = {"signature": call.signature}
            if index == 0 and keep_reasoning:
                entry["reasoning"] = [
                    {"text": p.text, "signature": p.signature, "redacted": p.redacted, "protocol": p.protocol}
                    for p in keep_reasoning
                ]
            raw = json.dumps(entry, separators=(",", ":"))
            await state.set(_key(api_key_id, call.id), raw, ttl_s=settings.REPLAY_TTL_S)
    except Exception:
        logger.warning("replay_store_unavailable", op="remember")


async def replay_restore(*, api_key_id: int | None, messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """`messages` with what was kept for their tool calls put back (unchanged if nothing was)."""
    ids = [call.id for m in messages if m.role == "assistant" for call in m.tool_calls]
    if not ids:
        return messages
    try:
        values = await shared_state().get_many([_key(api_key_id, call_id) for call_id in ids])
    except Exception:
        logger.warning("replay_store_unavailable", op="restore")
        return messages
    kept = {call_id: json.loads(raw) for call_id, raw in zip(ids, values, strict=True) if raw}
    if not kept:
        return messages
    restored = []
    for message in messages:
        if message.role != "assistant" or not message.tool_calls:
            restored.append(message)
            continue
        calls = tuple(
            replace(call, signature=kept[call.id].get("signature"))
            if call.id in kept and not call.signature and kept[call.id].get("signature")
            else call
            for call in message.tool_calls
        )
        reasoning = message.reasoning
        first = kept.get(message.tool_calls[0].id) or {}
        if first.get("reasoning") and not any(p.signature or p.protocol for p in reasoning):
            reasoning = tuple(ReasoningPart(**part) for part in first["reasoning"])
        restored.append(replace(message, tool_calls=calls, reasoning=reasoning))
    return tuple(restored)
