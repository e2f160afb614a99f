"""A completion stream's chunks as the Responses event sequence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from providers.adapters.messages import ToolCall
from providers.adapters.results import ToolCallDelta, Usage
from routing.doors.openai_responses.render import (
    ResponseShape,
    call_item,
    message_item,
    new_id,
    output_text_part,
    reasoning_item,
    reasoning_text_part,
    response_status,
)


@dataclass(frozen=True)
class _TextItem:
    """How one kind of streamed text item (the message, or reasoning) is built and announced."""

    id_prefix: str
    item: Callable[..., dict[str, Any]]
    part: Callable[[str], dict[str, Any]]
    delta_event: str
    done_event: str
    logprobs: bool  # output text events carry (empty) logprobs; reasoning text events do not


_TEXT_ITEMS: Final[dict[str, _TextItem]] = {
    "message": _TextItem(
        "msg", message_item, output_text_part, "response.output_text.delta", "response.output_text.done", True
    ),
    "reasoning": _TextItem(
        "rs",
        reasoning_item,
        reasoning_text_part,
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        False,
    ),
}
# Text of one kind closes the open item of the other: the output items follow the answer's order.
_OTHER: Final = {"message": "reasoning", "reasoning": "message"}


class ResponseStreamRenderer:
    """A stream's chunks as the Responses event sequence.

    `start()` gives response.created and response.in_progress; `chunk()` the output item, content
    part and delta events of one chunk (reasoning text, answer text, function-call argument
    pieces); `finish()` closes every open item (`*.done` events, response.output_item.done) and ends
    with response.completed (response.incomplete when the answer was cut short); `fail()` gives an
    `error` event and response.failed.
    """

    def __init__(self, shape: ResponseShape, *, model: str, provider: str) -> None:
        self.shape = shape
        self.model = model
        self.provider = provider
        self.sequence = 0
        self.items: list[dict[str, Any]] = []  # output items, by output index, as they stand
        self.texts: dict[int, list[str]] = {}  # text of open message and reasoning items
        self.done: set[int] = set()
        self.open: dict[str, int | None] = {"message": None, "reasoning": None}  # open text items
        self.calls: dict[int, int] = {}  # a tool call's stream index -> its output index

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return event

    def _body(self, status: str, **extra: Any) -> dict[str, Any]:
        return self.shape.body(model=self.model, status=status, provider=self.provider, **extra)

    def start(self) -> list[dict[str, Any]]:
        """response.created and response.in_progress."""
        return [
            self._event("response.created", response=self._body("in_progress", output=[])),
            self._event("response.in_progress", response=self._body("in_progress", output=[])),
        ]

    def _add(self, item: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        index = len(self.items)
        self.items.append(item)
        return index, [self._event("response.output_item.added", output_index=index, item=dict(item))]

    def _open_text_item(self, kind: str) -> list[dict[str, Any]]:
        spec = _TEXT_ITEMS[kind]
        item = spec.item(new_id(spec.id_prefix), "", status="in_progress")
        item["content"] = []
        index, events = self._add(item)
        self.texts[index] = []
        events.append(
            self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=spec.part(""),
            )
        )
        self.open[kind] = index
        return events

    def _close_text_item(self, index: int | None, *, status: str = "completed") -> list[dict[str, Any]]:
        if index is None or index in self.done:
            return []
        self.done.add(index)
        item = self.items[index]
        kind = item["type"]
        spec = _TEXT_ITEMS[kind]
        self.open[kind] = None
        text = "".join(self.texts.pop(index, []))
        part = spec.part(text)
        extra = {"logprobs": []} if spec.logprobs else {}
        events = [
            self._event(
                spec.done_event, item_id=item["id"], output_index=index, content_index=0, text=text, **extra
            )
        ]
        # Reasoning is whole once it stops; only the message can be cut short.
        item.update(content=[part], status=status if kind == "message" else "completed")
        events.append(
            self._event(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
        )
        events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    def _text_delta(self, kind: str, text: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if self.open[kind] is None:
            events += self._close_text_item(self.open[_OTHER[kind]])
            events += self._open_text_item(kind)
        index = self.open[kind]
        self.texts[index].append(text)
        spec = _TEXT_ITEMS[kind]
        extra = {"logprobs": []} if spec.logprobs else {}
        events.append(
            self._event(
                spec.delta_event,
                item_id=self.items[index]["id"],
                output_index=index,
                content_index=0,
                delta=text,
                **extra,
            )
        )
        return events

    def _call_delta(self, piece: ToolCallDelta) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if piece.index not in self.calls:
            events += self._close_text_item(self.open["reasoning"])
            events += self._close_text_item(self.open["message"])
            call = ToolCall(id=piece.id or new_id("call"), name=piece.name or "", arguments="")
            index, added = self._add(call_item(new_id("fc"), call, status="in_progress"))
            self.calls[piece.index] = index
            events += added
        index = self.calls[piece.index]
        item = self.items[index]
        if piece.arguments:
            item["arguments"] += piece.arguments
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece.arguments,
                )
            )
        return events

    def chunk(self, *, delta: str = "", reasoning: str = "", tool_call_deltas=()) -> list[dict[str, Any]]:
        """The events of one chunk: reasoning text, answer text, then function-call pieces."""
        events: list[dict[str, Any]] = []
        if reasoning:
            events += self._text_delta("reasoning", reasoning)
        if delta:
            events += self._text_delta("message", delta)
        for piece in tool_call_deltas:
            events += self._call_delta(piece)
        return events

    def _calls_close(self, tool_calls: list[ToolCall]) -> list[dict[str, Any]]:
        # The complete calls of the terminal chunk are authoritative; a call no piece announced
        # (an adapter that sends whole calls only at the end) gets its item now.
        events: list[dict[str, Any]] = []
        final = {call.id: call for call in tool_calls}
        announced = {self.items[i]["call_id"] for i in self.calls.values()}
        for position, call in enumerate(c for c in tool_calls if c.id not in announced):
            events += self._call_delta(
                ToolCallDelta(index=-1 - position, id=call.id, name=call.name, arguments=call.arguments)
            )
        for index in sorted(self.calls.values()):
            item = self.items[index]
            if call := final.get(item["call_id"]):
                item.update(name=call.name or item["name"], arguments=call.arguments)
            item["status"] = "completed"
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
            events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
            self.done.add(index)
        return events

    def finish(
        self, *, finish_reason: str | None, usage: Usage | None, tool_calls: list[ToolCall]
    ) -> list[dict[str, Any]]:
        """Every open item closed, then response.completed (or response.incomplete)."""
        status, incomplete = response_status(finish_reason)
        events: list[dict[str, Any]] = []
        events += self._close_text_item(self.open["reasoning"])
        events += self._close_text_item(self.open["message"], status=status)
        events += self._calls_close(tool_calls)
        if not self.items:
            events += self._open_text_item("message")
            events += self._close_text_item(self.open["message"], status=status)
        body = self._body(status, output=list(self.items), usage=usage or Usage(), incomplete=incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._event(kind, response=body))
        return events

    def fail(self, message: str, *, code: str = "server_error") -> list[dict[str, Any]]:
        """The provider failed mid-stream: an `error` event, then response.failed."""
        error = {"code": code, "message": message}
        body = self._body(
            "failed", output=[i for n, i in enumerate(self.items) if n in self.done], error=error
        )
        return [
            self._event("error", code=code, message=message, param=None),
            self._event("response.failed", response=body),
        ]
