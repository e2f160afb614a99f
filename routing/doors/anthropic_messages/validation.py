"""The value checks of the Anthropic door, worded as Anthropic words them (`field: Input should ...`)."""

from __future__ import annotations

import math
from typing import Any

from routing.doors.common import RequestError


class MessagesError(RequestError):
    """The request cannot be read: a 400 `invalid_request_error` naming the field (`param`)."""


def keys_check(obj: dict, allowed: frozenset[str] | set[str], where: str) -> None:
    """A field the door does not know is refused by name, never ignored."""
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise MessagesError(f"{name}: Extra inputs are not permitted", param=name, code="unknown_parameter")


def string_parse(value: Any, where: str, *, allow_empty: bool = True, max_length: int | None = None) -> str:
    """A string field, within its length."""
    if not isinstance(value, str):
        raise MessagesError(f"{where}: Input should be a valid string", param=where)
    if not allow_empty and not value:
        raise MessagesError(f"{where}: String should have at least 1 character", param=where)
    if max_length is not None and len(value) > max_length:
        raise MessagesError(f"{where}: String should have at most {max_length} characters", param=where)
    return value


def number_parse(body: dict, name: str, low: float, high: float) -> float | None:
    """An optional finite number between `low` and `high`."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MessagesError(f"{name}: Input should be a valid number", param=name)
    if not low <= value <= high:
        raise MessagesError(f"{name}: Input should be between {low:g} and {high:g}", param=name)
    return float(value)


def integer_parse(value: Any, where: str, low: int) -> int:
    """An integer of at least `low`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MessagesError(f"{where}: Input should be a valid integer", param=where)
    if value < low:
        raise MessagesError(f"{where}: Input should be greater than or equal to {low}", param=where)
    return value


def block_type(block: Any, where: str) -> str:
    """The `type` of a content block (or tool, or choice) that must be an object with one."""
    if not isinstance(block, dict):
        raise MessagesError(f"{where}: Input should be a valid dictionary", param=where)
    kind = block.get("type")
    if not isinstance(kind, str):
        raise MessagesError(f"{where}.type: Field required", param=f"{where}.type")
    return kind


def content_refusal(where: str) -> MessagesError:
    """Content that is neither a string nor a list of blocks."""
    return MessagesError(
        f"{where}.content: Input should be a string or a list of blocks", param=f"{where}.content"
    )


def unknown_tag(where: str, kind: Any, expected: str = "") -> MessagesError:
    """A `type` Anthropic does not know at `where` (its `.type` field); `expected` lists the tags."""
    return MessagesError(
        f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags{expected}",
        param=where,
    )
