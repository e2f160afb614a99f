"""What the OpenAI-style doors (Chat Completions, Responses, Embeddings) read alike.

The error they raise, and the checks of values, content parts,
function tools, streaming and service options, each worded once so that every door names a bad
parameter the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from providers.adapters.messages import ContentPart, ImagePart, Message, TextPart, ToolSpec

REASONING_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SERVICE_TIERS: Final = ("auto", "default", "flex", "scale", "priority")
MAX_TOOLS: Final = 512


class RequestError(Exception):
    """A body a door cannot read: a 400 naming the field (`param`); each protocol words its own."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class DoorError(RequestError):
    """The request cannot be read: a 400 naming the parameter (`param`, OpenAI style)."""


def unsupported(message: str, param: str) -> DoorError:
    """A parameter OpenAI knows and the gateway does not carry."""
    return DoorError(message, param=param, code="unsupported_parameter")


# ------------------------------------------------------------------------------------ values


def number_parse(body: dict, name: str, low: float, high: float) -> float | None:
    """An optional finite number between `low` and `high`."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DoorError(f"{name} must be a number", param=name)
    if not low <= value <= high:
        raise DoorError(f"{name} must be between {low:g} and {high:g}", param=name)
    return float(value)


def integer_parse(body: dict, name: str, low: int, high: int | None = None) -> int | None:
    """An optional integer of at least `low` (and at most `high`)."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DoorError(f"{name} must be an integer", param=name)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise DoorError(f"{name} must be {bound}", param=name)
    return value


def string_parse(value: Any, param: str, *, max_length: int = 100_000, allow_empty: bool = True) -> str:
    """A string parameter, within its length."""
    if not isinstance(value, str):
        raise DoorError(f"{param} must be a string", param=param)
    if len(value) > max_length:
        raise DoorError(f"{param} is longer than {max_length} characters", param=param)
    if not allow_empty and not value:
        raise DoorError(f"{param} must not be empty", param=param)
    return value


def flag_parse(body: dict, name: str) -> bool | None:
    """An optional boolean parameter."""
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise DoorError(f"{name} must be a boolean", param=name)
    return value


def keys_check(obj: dict, allowed: frozenset[str] | set[str], param: str) -> None:
    """A field the door does not know is refused by name, never ignored."""
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        where = f"{param}." if param else ""
        raise DoorError(
            f"Unrecognized request argument supplied: {where}{unknown[0]}",
            param=f"{where}{unknown[0]}",
            code="unknown_parameter",
        )


def not_carried_check(
    body: dict, not_carried: dict[str, str], *, empty_accepted: tuple[str, ...] = ()
) -> None:
    """Known parameters the gateway does not carry: refused by name, with what they are for (an
    empty list is accepted for the names in `empty_accepted`: it asks for nothing)."""
    for name, what in not_carried.items():
        if body.get(name) is not None and not (name in empty_accepted and body[name] == []):
            raise unsupported(f"{name} is not supported by this gateway ({what})", name)


def objects_each(items: list, param: str) -> Iterator[tuple[str, dict]]:
    """The entries of a list that must all be objects, each with its parameter path."""
    for index, item in enumerate(items):
        where = f"{param}[{index}]"
        if not isinstance(item, dict):
            raise DoorError(f"{where} must be an object", param=where)
        yield where, item


# ------------------------------------------------------------------------------------ content


def text_content_parse(
    content: Any, param: str, *, listed: str, part_text: Callable[[dict, str], str]
) -> str:
    """A string, or a list of parts (`listed` says which) whose texts `part_text` reads, joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise DoorError(f"{param} must be a string or a list of {listed}", param=param)
    return "".join(part_text(part, where) for where, part in objects_each(content, param))


def user_content_parse(
    content: Any, param: str, *, part_parse: Callable[[dict, str], ContentPart]
) -> tuple[str, tuple[ContentPart, ...]]:
    """A user message's text, and its parts when it holds an image (text alone needs no parts)."""
    if isinstance(content, str):
        return content, ()
    if not isinstance(content, list) or not content:
        raise DoorError(f"{param} must be a string or a non-empty list of content parts", param=param)
    parts = [part_parse(part, where) for where, part in objects_each(content, param)]
    text = "".join(p.text for p in parts if isinstance(p, TextPart))
    return text, (tuple(parts) if any(isinstance(p, ImagePart) for p in parts) else ())


def image_part_parse(url: Any, detail: Any, *, url_param: str, detail_param: str) -> ImagePart:
    """An image reference as the OpenAI protocols send it: an http(s) URL or a base64 data URL."""
    url = string_parse(url, url_param, max_length=50_000_000, allow_empty=False)
    if not url.startswith(("https://", "http://", "data:image/")) or (
        url.startswith("data:") and ";base64," not in url[:100]
    ):
        raise DoorError(
            f"{url_param} must be an https:// URL or a data:image/...;base64, URL",
            param=url_param,
            code="invalid_image_url",
        )
    if detail is not None and detail not in ("auto", "low", "high", "original"):
        raise DoorError(f"{detail_param} must be auto, low, high or original", param=detail_param)
    return ImagePart(url=url, detail=detail)


def tool_result_unanswered(messages: Sequence[Message]) -> int | None:
    """The position of the first tool result that answers no call made before it; None when all do."""
    called: set[str] = set()
    for position, message in enumerate(messages):
        called.update(call.id for call in message.tool_calls)
        if message.role == "tool" and message.tool_call_id not in called:
            return position
    return None


# ------------------------------------------------------------------------------------ tools and options


def tools_list_check(value: Any) -> list:
    """The `tools` list, before its entries are read."""
    if not isinstance(value, list):
        raise DoorError("tools must be a list", param="tools")
    if len(value) > MAX_TOOLS:
        raise DoorError(f"tools holds more than {MAX_TOOLS} tools", param="tools")
    return value


def function_tool_parse(spec: dict, where: str, *, names: set[str]) -> ToolSpec:
    """A function tool's fields, read from the object `where` names (`tools[0].function` in Chat
    Completions, `tools[0]` in Responses); `names` holds the names declared before it."""
    name = string_parse(spec.get("name"), f"{where}.name", max_length=64, allow_empty=False)
    if name in names:
        raise DoorError(f"tool name {name!r} is declared twice", param=f"{where}.name")
    names.add(name)
    parameters = spec.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise DoorError(f"{where}.parameters must be a JSON Schema object", param=f"{where}.parameters")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise DoorError(f"{where}.strict must be a boolean", param=f"{where}.strict")
    description = spec.get("description")
    if description is not None:
        description = string_parse(description, f"{where}.description")
    return ToolSpec(name=name, description=description, parameters=parameters, strict=strict)


def stream_parse(body: dict, *, option_keys: set[str]) -> tuple[bool, dict[str, Any]]:
    """`stream` (null is false), and the `stream_options` object (empty when not sent)."""
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise DoorError("stream must be a boolean", param="stream")
    stream_options = body.get("stream_options")
    if stream_options is None:
        return stream, {}
    if not isinstance(stream_options, dict):
        raise DoorError("stream_options must be an object", param="stream_options")
    keys_check(stream_options, option_keys, "stream_options")
    return stream, stream_options


def metadata_parse(value: Any) -> dict[str, str]:
    """OpenAI's `metadata`: up to 16 short string pairs; {} when not sent."""
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or len(value) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
            for k, v in value.items()
        )
    ):
        raise DoorError("metadata must map up to 16 string keys to string values", param="metadata")
    return value


def service_tier_parse(body: dict, options: dict[str, Any]) -> str | None:
    """`service_tier` as sent; carried in `options` only when it asks for more than the default."""
    tier = body.get("service_tier")
    if tier is None:
        return None
    if tier not in SERVICE_TIERS:
        raise DoorError("service_tier must be auto, default, flex, scale or priority", param="service_tier")
    if tier not in ("auto", "default"):
        options["service_tier"] = tier
    return tier


def identifiers_parse(body: dict, options: dict[str, Any]) -> None:
    """`prompt_cache_key` and `safety_identifier`, carried as sent."""
    for name in ("prompt_cache_key", "safety_identifier"):
        if body.get(name) is not None:
            options[name] = string_parse(body[name], name, max_length=512)


def model_parse(body: dict) -> str:
    """The `model` every request names."""
    return string_parse(body.get("model"), "model", max_length=200, allow_empty=False)


def user_parse(body: dict) -> str | None:
    """OpenAI's `user`: the end user, as the client names them."""
    user = body.get("user")
    return string_parse(user, "user", max_length=256) if user is not None else None
