"""The emulator's control API: faults, stats, the request log and resets over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .asgi import decode_json
from .faults import FaultSpecError
from .wires.base import Reply

if TYPE_CHECKING:
    from .app import Emulator


def control_reply(
    emulator: Emulator, *, method: str, path: str, raw: bytes, query: Mapping[str, str]
) -> Reply:
    """The answer of the control API (`/_emulator/...`, see the app's docstring)."""
    route = path.removeprefix("/_emulator").strip("/")
    if route == "health" and method == "GET":
        return Reply.json({"status": "ok"})
    if route == "stats" and method == "GET":
        return Reply.json(emulator.stats())
    if route == "requests" and method == "GET":
        return Reply.json(emulator.requests(query.get("provider")))
    if route == "reset" and method == "POST":
        emulator.reset()
        return Reply.json({"status": "reset"})
    if route == "faults" and method == "GET":
        return Reply.json(emulator.faults())
    if route == "faults" and method == "DELETE":
        emulator.clear_faults(query.get("provider"))
        return Reply.json(emulator.faults())
    if route == "faults" and method == "POST":
        data = decode_json(raw)
        if not isinstance(data, dict) or not isinstance(data.get("provider"), str):
            return Reply.json({"error": 'expected {"provider": str, "fault": str, "count": int|null}'}, 400)
        count = data.get("count")
        if count is not None and not isinstance(count, int):
            return Reply.json({"error": "count must be an integer or null"}, 400)
        try:
            emulator.set_fault(data["provider"], str(data.get("fault") or ""), count)
        except FaultSpecError as exc:
            return Reply.json({"error": str(exc)}, 400)
        return Reply.json(emulator.faults())
    return Reply.json({"error": f"unknown control endpoint {method} {path}"}, 404)
