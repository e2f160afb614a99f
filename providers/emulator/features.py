"""Protocol-independent pieces of the emulator's second batch: tool calls, JSON output, signatures.

- `schema_instance` builds one deterministic instance of a JSON Schema (or of Gemini's upper-case
  OpenAPI `Schema`): the arguments of every emulated tool call and every structured answer.
- `choose_calls` decides which declared tools the emulated model calls.
- `sign` / `verify` make and check the emulator's reasoning signatures (Anthropic `thinking`
  blocks, Gemini `thoughtSignature`): base64 of an HMAC-SHA256 over a labelled payload with a
  fixed, public key, so they are stable across runs and any test can recompute them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

# Not a credential: a fixed key that makes the emulator's signatures verifiable by anyone.
SIGNING_KEY: Final = b"provider-emulator/reasoning-signatures/v1"

_ID_ALPHABET: Final = string.ascii_letters + string.digits
_MAX_DEPTH: Final = 8  # recursion guard for self-referencing schemas ($ref cycles)
IMAGE_MEDIA_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")


# ---------------------------------------------------------------------- signatures


def _mac(label: str, payload: str) -> bytes:
    return hmac.new(SIGNING_KEY, f"{label}\n{payload}".encode(), hashlib.sha256).digest()


def sign(label: str, payload: str) -> str:
    """The emulator's signature of `payload`, standard base64 (as the real APIs send them)."""
    return base64.b64encode(_mac(label, payload)).decode()


def verify(label: str, payload: str, signature: Any) -> bool:
    """Whether `signature` (standard or URL-safe base64) is the emulator's signature of `payload`."""
    raw = decode_base64(signature) if isinstance(signature, str) else None
    return raw is not None and hmac.compare_digest(raw, _mac(label, payload))


def canonical_call(name: str, args: Any) -> str:
    """The bytes a Gemini functionCall signature covers: independent of key order and spacing."""
    return json.dumps({"name": name, "args": args}, sort_keys=True, separators=(",", ":"))


def decode_base64(data: str, *, url_safe: bool = True) -> bytes | None:
    """Strictly decode standard (and, if `url_safe`, URL-safe) base64; padding optional. None if invalid."""
    text = "".join(data.split())
    if url_safe:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


_DATA_URL: Final = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)(?P<params>(?:;[\w.+-]+=[^;,]*)*);base64,(?P<data>.*)$"
)


def parse_data_url(url: str) -> tuple[str, bytes] | None:
    """(media type, bytes) of a base64 `data:image/...` URL; None if malformed or not an image."""
    match = _DATA_URL.match(url.strip())
    if match is None or not match["type"].lower().startswith("image/"):
        return None
    data = decode_base64(match["data"], url_safe=False)
    return (match["type"].lower(), data) if data else None


# ---------------------------------------------------------------------- ids and fragments


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def fragments(text: str, size: int = 7) -> list[str]:
    """`text` cut every `size` characters (through keys and strings, as streamed arguments are)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


JsonStyle = Literal["compact", "spaced", "pretty"]


def dump_json(obj: Any, style: JsonStyle) -> str:
    """compact `{"a":1}` (OpenAI, Anthropic), spaced `{"a": 1}` (DeepSeek arguments), pretty (indent 2)."""
    if style == "compact":
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if style == "pretty":
        return json.dumps(obj, ensure_ascii=False, indent=2)
    return json.dumps(obj, ensure_ascii=False)


# ---------------------------------------------------------------------- schema instances

# Nicer strings than "emulated" for common property names (matched on the lower-cased key).
_STRING_HINTS: Final[dict[str, str]] = {
    "location": "Paris",
    "city": "Paris",
    "place": "Paris",
    "destination": "Paris",
    "origin": "Paris",
    "country": "FR",
    "country_code": "FR",
    "timezone": "Europe/Paris",
    "time_zone": "Europe/Paris",
    "tz": "Europe/Paris",
    "language": "en",
    "lang": "en",
    "currency": "EUR",
    "email": "emulated@example.com",
    "url": "https://example.com/emulated",
    "date": "2026-01-01",
}
_FORMAT_VALUES: Final[dict[str, str]] = {
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00",
    "email": "emulated@example.com",
    "uri": "https://example.com/emulated",
    "url": "https://example.com/emulated",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "hostname": "example.com",
}


def schema_instance(schema: Any, *, key: str | None = None) -> Any:
    """One deterministic instance of `schema`.

    enum → its first value; string → "emulated" (or a hint by property name / format); integer
    and number → 1 (moved into minimum/maximum); boolean → true; object → every property;
    array → one item (or minItems). `$ref` into `$defs`/`definitions`, `anyOf`/`oneOf` (first
    non-null branch), `allOf` (merged) and type lists are honoured; Gemini's upper-case types too.
    """
    root = schema if isinstance(schema, Mapping) else {}
    return _instance(schema, root, key, 0)


def _resolve(ref: str, root: Mapping[str, Any]) -> Any:
    if not ref.startswith("#"):
        return {}
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return {}
        node = node[part]
    return node


def _type_of(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if str(t).lower() != "null"), "null")
    if isinstance(declared, str) and declared:
        return declared.lower()  # Gemini's Schema uses OBJECT, STRING, ...
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _instance(schema: Any, root: Mapping[str, Any], key: str | None, depth: int) -> Any:
    if not isinstance(schema, Mapping):
        return "emulated"  # `true` or an empty schema: anything goes
    if isinstance(schema.get("$ref"), str):
        if depth >= _MAX_DEPTH:
            return None
        target = _resolve(schema["$ref"], root)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        merged = {**target, **rest} if isinstance(target, Mapping) else rest
        return _instance(merged, root, key, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        branches = schema.get(union)
        if isinstance(branches, list) and branches:
            concrete = [b for b in branches if not (isinstance(b, Mapping) and _is_null(b))]
            if not concrete or depth >= _MAX_DEPTH:
                return None
            return _instance(concrete[0], root, key, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part["$ref"], root) if isinstance(part, Mapping) and "$ref" in part else part
            if isinstance(part, Mapping):
                merged["properties"] = {**merged.get("properties", {}), **part.get("properties", {})}
                merged.update({k: v for k, v in part.items() if k != "properties"})
        return _instance(merged, root, key, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, key, depth)
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, key)


def _is_null(schema: Mapping[str, Any]) -> bool:
    return str(schema.get("type", "")).lower() == "null"


def _object(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    names = list(properties)
    ordering = schema.get("propertyOrdering")  # Gemini's Schema may fix the order
    if isinstance(ordering, list):
        names = [n for n in ordering if n in properties] + [n for n in names if n not in ordering]
    if depth >= _MAX_DEPTH:  # deep in a recursive schema: only what is required
        required = schema.get("required") or []
        names = [n for n in names if n in required]
    return {name: _instance(properties[name], root, name, depth + 1) for name in names}


def _array(schema: Mapping[str, Any], root: Mapping[str, Any], key: str | None, depth: int) -> list[Any]:
    prefix = schema.get("prefixItems")
    items: list[Any] = []
    if isinstance(prefix, list):
        items = [_instance(item, root, key, depth + 1) for item in prefix]
    minimum = schema.get("minItems", schema.get("min_items"))
    count = max(int(minimum) if isinstance(minimum, int | str) and str(minimum).isdigit() else 0, 1)
    if depth >= _MAX_DEPTH and not minimum:
        count = 0
    item_schema = schema.get("items", {})
    while len(items) < count and item_schema is not False:
        items.append(_instance(item_schema, root, key, depth + 1))
    return items


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    value: int | float = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    exclusive_low, exclusive_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(exclusive_low, int | float) and value <= exclusive_low:
        value = exclusive_low + 1
    if isinstance(high, int | float) and value > high:
        value = high
    if isinstance(exclusive_high, int | float) and value >= exclusive_high:
        value = exclusive_high - (1 if integer else 0.5)
    if integer:
        value = int(value)
    return value


def _string(schema: Mapping[str, Any], key: str | None) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt.lower() in _FORMAT_VALUES:
        value = _FORMAT_VALUES[fmt.lower()]
    else:
        value = _STRING_HINTS.get((key or "").lower(), "emulated")
    low = schema.get("minLength", schema.get("min_length"))
    high = schema.get("maxLength", schema.get("max_length"))
    if isinstance(low, int) and len(value) < low:
        value = value + "x" * (low - len(value))
    if isinstance(high, int) and len(value) > high:
        value = value[:high]
    return value


# ---------------------------------------------------------------------- tool calls


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A declared function tool: its name and its parameters' schema."""

    name: str
    schema: Any


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """A tool_choice, normalised: mode "auto" | "required" | "none" | "named"."""

    mode: str = "auto"
    name: str | None = None
    parallel: bool = True
    allowed: tuple[str, ...] | None = None  # only these tools may be called (OpenAI allowed_tools, Gemini)


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    args: Any


def choose_calls(tools: list[ToolSpec], choice: ToolChoice, user_text: str) -> list[ToolCall]:
    """The calls the emulated model makes.

    A named tool_choice → that tool. Otherwise every candidate tool whose name appears in the
    user text (case-insensitive, in declaration order), or the first candidate if none does; only
    the first of those when parallel calls are off. Candidates are the declared tools, narrowed to
    `choice.allowed` when set. No calls for mode "none" or when nothing is declared.
    """
    if choice.mode == "none":
        return []
    if choice.mode == "named":
        chosen = [tool for tool in tools if tool.name == choice.name][:1]
    else:
        candidates = [t for t in tools if choice.allowed is None or t.name in choice.allowed]
        text = user_text.lower()
        chosen = [tool for tool in candidates if tool.name.lower() in text] or candidates[:1]
        if not choice.parallel:
            chosen = chosen[:1]
    return [ToolCall(tool.name, schema_instance(tool.schema)) for tool in chosen]


def image_suffix(count: int) -> str:
    """What the answer text ends with when the request carried images: `[saw 1 image]`, `[saw 2 images]`."""
    return f"[saw {count} image{'' if count == 1 else 's'}]" if count else ""
