"""A completion stream's chunks as Anthropic's event sequence."""

from __future__ import annotations

from typing import Any

from providers.adapters.results import Usage
from routing.doors.anthropic_messages.blocks import PROTOCOL
from routing.doors.anthropic_messages.render import PING, sse_event, stop_reason, usage_render


class MessagesStreamRenderer:
    """The chunks of a completion stream as Anthropic's events.

    When the first chunk carries the provider's own event (Anthropic answering a passed-through
    request) every event is forwarded as Anthropic sent it; otherwise the chunks are translated:
    `message_start`, one content block per run of reasoning (`thinking`), text and each tool call
    (`input_json_delta` pieces), then `message_delta` with the stop reason and usage, and
    `message_stop`.
    """

    def __init__(self, *, message_id: str, model: str, thinking_omitted: bool = False) -> None:
        self.message_id = message_id
        self.model = model
        self.thinking_omitted = thinking_omitted
        self.native: bool | None = None
        self.started = False
        self.block = -1  # index of the last block opened
        self.open_kind: str | None = None  # kind of the open block, None when none is open
        self.tool_blocks: dict[int, int] = {}  # tool-call index -> block index

    def chunk(self, chunk) -> list[bytes]:
        """The events of one chunk (a forwarded stream's own event, or the translated ones)."""
        if self.native is None:
            self.native = chunk.native is not None
        if self.native:
            if chunk.native is None:
                return []
            out = [sse_event(chunk.native)]
            if chunk.native.get("type") == "message_start":
                out.append(PING)
            return out
        out = self._start()
        if chunk.reasoning and not self.thinking_omitted:
            out += self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            out.append(self._delta(self.block, {"type": "thinking_delta", "thinking": chunk.reasoning}))
        if chunk.delta:
            out += self._open("text", {"type": "text", "text": ""})
            out.append(self._delta(self.block, {"type": "text_delta", "text": chunk.delta}))
        for piece in chunk.tool_call_deltas:
            if piece.index not in self.tool_blocks:
                block = {
                    "type": "tool_use",
                    "id": piece.id or f"toolu_{self.message_id}_{piece.index}",
                    "name": piece.name or "",
                    "input": {},
                }
                out += self._open("tool_use", block, force=True)
                self.tool_blocks[piece.index] = self.block
            if piece.arguments:
                index = self.tool_blocks[piece.index]
                out.append(self._delta(index, {"type": "input_json_delta", "partial_json": piece.arguments}))
        return out

    def finish(self, *, finish_reason: str | None, usage: Usage | None, reasoning_parts=()) -> list[bytes]:
        """The end of a translated stream (nothing for a forwarded one: its own events ended it)."""
        if self.native:
            return []
        out = self._start()
        if self.open_kind == "thinking":
            signature = next(
                (p.signature for p in reasoning_parts if p.signature and p.protocol == PROTOCOL), None
            )
            if signature:
                out.append(self._delta(self.block, {"type": "signature_delta", "signature": signature}))
        out += self._close()
        out.append(
            sse_event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason(finish_reason), "stop_sequence": None},
                    "usage": usage_render(usage),
                }
            )
        )
        out.append(sse_event({"type": "message_stop"}))
        return out

    def _start(self) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_render(None),
        }
        return [sse_event({"type": "message_start", "message": message}), PING]

    def _open(self, kind: str, block: dict[str, Any], *, force: bool = False) -> list[bytes]:
        if self.open_kind == kind and not force:
            return []
        out = self._close()
        self.block += 1
        self.open_kind = kind
        out.append(sse_event({"type": "content_block_start", "index": self.block, "content_block": block}))
        return out

    def _close(self) -> list[bytes]:
        if self.open_kind is None:
            return []
        self.open_kind = None
        return [sse_event({"type": "content_block_stop", "index": self.block})]

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> bytes:
        return sse_event({"type": "content_block_delta", "index": index, "delta": delta})
