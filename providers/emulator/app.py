"""The provider emulator: one raw ASGI app answering the OpenAI, DeepSeek, Anthropic and Gemini
wire protocols at their real paths, with injectable faults and per-provider request counts.

URL scheme: `/<provider>/<real path>`, so every configured provider can point its base_url here
and be counted on its own (see `EmulatorServer.url_for`):

    /openai/v1/chat/completions      /openai/v1/models
    /deepseek/chat/completions       /deepseek/models        (DeepSeek's base URL has no /v1)
    /anthropic/v1/messages           /anthropic/v1/models     /anthropic/v1/messages/count_tokens
    /gemini/v1beta/models/{model}:generateContent | :streamGenerateContent[?alt=sse]
    /openai/v1/embeddings            /gemini/v1beta/models/{model}:batchEmbedContents | :embedContent
    /gemini/v1beta/models

Any provider name works as the prefix; the protocol is recognised from the name, path and headers
by the entries the protocol modules of `wires/` declare (collected in `protocols.py`; e.g. `v1beta/...`
is Gemini, and what no entry recognises is OpenAI). The bare real paths (`/v1/chat/completions`,
`/chat/completions`, `/v1/messages`, `/v1beta/...`) work too.

Beyond plain chat, each protocol answers the second batch of the reference fixtures
deterministically (rules in `features.py`): function tools (the named tool, else every declared tool
whose name the last user message mentions, else the first; results answered as "Emulated reply to
tool results: ..."), structured output (an instance of the requested JSON schema), images (the answer
ends with "[saw N image(s)]"), reasoning and thinking with verifiable signatures, and OpenAI's `n`
and `logprobs`. It also refuses what the real APIs refuse: unanswered tool calls, thinking turns
replayed without their signed blocks or signatures, DeepSeek's missing `reasoning_content`, images
for models that cannot see, forced tools while thinking.

Faults (grammar in `faults.py`) come from, in order: the `X-Emulator-Fault` request header, a
`@fault=` suffix on the model name (`gpt-4o-mini@fault=status:503`), or a per-provider fault
set through the control API. Control API (not counted in stats):

    POST   /_emulator/faults    {"provider": "openai", "fault": "status:503", "count": 2 | null}
    DELETE /_emulator/faults    [?provider=openai]
    GET    /_emulator/faults
    GET    /_emulator/stats     {"total": n, "providers": {name: {"requests": n, "paths": {...}}}}
    GET    /_emulator/requests  [?provider=openai]   recent requests, credentials masked
    POST   /_emulator/reset     faults, counters, request log and replays
    GET    /_emulator/health
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from .asgi import (
    INVALID_JSON,
    Receive,
    Scope,
    Send,
    decode_json,
    drop,
    lifespan,
    read_body,
    send_paced,
    send_reply,
    send_truncated,
    split_events,
    split_path,
    wait_for_disconnect,
    without_fault,
)
from .content import REPORTED_PROMPT_TOKENS
from .control import control_reply
from .faults import NO_FAULT, Fault, FaultSpecError, parse_fault, split_model
from .protocols import EMULATED_PROTOCOLS, emulated_kind
from .wires.base import Operation, Reply, Wire

FAULT_HEADER: Final = "x-emulator-fault"
_SECRET_HEADERS: Final = frozenset({"authorization", "x-api-key", "x-goog-api-key"})
# Fault actions answered with the protocol's error reply instead of an answer.
_ERROR_ACTIONS: Final = frozenset({"status", "rate_limit", "quota", "context_length"})


@dataclass(slots=True)
class _StandingFault:
    spec: str
    fault: Fault
    remaining: int | None  # None: until cleared


class Emulator:
    """The emulator state and its ASGI entry point (`emulator.app`, or the instance itself).

    Thread-safe: tests change faults from their own thread while the server runs in another.
    """

    def __init__(
        self,
        *,
        invalid_key_prefixes: tuple[str, ...] = ("invalid", "bad"),
        models_page_size: int = 2,
        request_log_size: int = 200,
    ) -> None:
        self._lock = threading.Lock()
        self._wires: dict[str, Wire] = {
            protocol.kind: protocol.wire(
                invalid_key_prefixes=invalid_key_prefixes, models_page_size=models_page_size
            )
            for protocol in EMULATED_PROTOCOLS
        }
        self.invalid_key_prefixes = invalid_key_prefixes
        self._faults: dict[str, _StandingFault] = {}
        self._counts: dict[str, Counter[str]] = {}
        self._log: deque[dict[str, Any]] = deque(maxlen=request_log_size)
        self._replays: dict[str, deque[Reply]] = {}
        self._aborted: Counter[str] = Counter()

    @property
    def app(self) -> Emulator:
        return self

    # ------------------------------------------------------------------ in-process control API

    def set_fault(self, provider: str, fault: str, count: int | None = None) -> None:
        """Inject `fault` into the next `count` requests for `provider` (all of them if None)."""
        parsed = parse_fault(fault)
        if count is not None and count < 1:
            raise FaultSpecError("count must be a positive integer or null")
        with self._lock:
            self._faults[provider] = _StandingFault(fault, parsed, count)

    def clear_faults(self, provider: str | None = None) -> None:
        with self._lock:
            if provider is None:
                self._faults.clear()
            else:
                self._faults.pop(provider, None)

    def faults(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: {"fault": f.spec, "count": f.remaining} for name, f in self._faults.items()}

    def replay(
        self,
        provider: str,
        body: bytes | str | Mapping[str, Any],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        stream: bool = False,
    ) -> None:
        """Answer the next request for `provider` with this exact response (fixture replay).

        `stream=True` sends the body in SSE-event-sized pieces, split after blank lines.
        """
        if isinstance(body, Mapping):
            raw = json.dumps(body).encode()
        else:
            raw = body.encode() if isinstance(body, str) else body
        reply_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if content_type:
            reply_headers["content-type"] = content_type
        reply_headers.setdefault("content-type", "text/event-stream" if stream else "application/json")
        reply = Reply(status=status, headers=reply_headers, body=raw)
        if stream:
            reply.body, reply.events = b"", split_events(raw)
        with self._lock:
            self._replays.setdefault(provider, deque()).append(reply)

    def aborted_streams(self, provider: str) -> int:
        """Streams for `provider` whose client went away before the last event (paced streams)."""
        with self._lock:
            return self._aborted[provider]

    def _note_abort(self, provider: str) -> None:
        with self._lock:
            self._aborted[provider] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            providers = {
                name: {"requests": sum(counter.values()), "paths": dict(counter)}
                for name, counter in self._counts.items()
            }
        return {"total": sum(p["requests"] for p in providers.values()), "providers": providers}

    def request_count(self, provider: str) -> int:
        with self._lock:
            return sum(self._counts.get(provider, Counter()).values())

    def requests(self, provider: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log if provider is None or entry["provider"] == provider]

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._counts.clear()
            self._aborted.clear()
            self._log.clear()
            self._replays.clear()

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        raw = await read_body(receive)
        method = scope["method"].upper()
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if path.startswith("/_emulator"):
            await send_reply(send, control_reply(self, method=method, path=path, raw=raw, query=query))
            return
        await self._provider_request(method, path, headers, query, raw, receive, send)

    async def _provider_request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        query: dict[str, str],
        raw: bytes,
        receive: Receive,
        send: Send,
    ) -> None:
        label, rest = split_path(path)
        wire = self._wire_for(label, rest, headers)
        provider = label or wire.protocol
        body = decode_json(raw)
        self._record(provider, method, rest, headers, query, body)

        canned = self._take_replay(provider)
        if canned is not None:
            await send_reply(send, canned)
            return
        op = wire.operation(method, rest)
        if op is None:
            await send_reply(send, wire.not_found(f"Unknown path {method} /{rest}"))
            return
        auth_error = wire.auth_error(headers, query)
        if auth_error is not None:
            await send_reply(send, auth_error)
            return
        if op.name == "chat":
            request_error = wire.request_error(None if body is INVALID_JSON else body, headers)
            if request_error is not None:
                await send_reply(send, request_error)
                return
        named = op.name in ("chat", "embeddings") and isinstance(body, dict)
        model, model_fault = split_model(wire.model(op, body) if named else "")
        try:
            fault = self._fault_for(provider, headers.get(FAULT_HEADER) or model_fault)
        except FaultSpecError as exc:
            await send_reply(send, wire.bad_request(f"emulator fault: {exc}"))
            return
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        stream = op.name == "chat" and wire.is_stream(op, body, query)
        reported = REPORTED_PROMPT_TOKENS.set(fault.prompt_tokens)
        try:
            await self._answer(wire, op, fault, body, model, stream, query, receive, send, provider=provider)
        finally:
            REPORTED_PROMPT_TOKENS.reset(reported)

    async def _answer(
        self,
        wire: Wire,
        op: Operation,
        fault: Fault,
        body: Any,
        model: str,
        stream: bool,
        query: dict[str, str],
        receive: Receive,
        send: Send,
        *,
        provider: str = "",
    ) -> None:
        action = fault.action
        if action == "hang":
            await wait_for_disconnect(receive)
        elif action == "drop":
            await drop(send)
        elif action in _ERROR_ACTIONS or (action == "stream_error" and not stream):
            await send_reply(send, wire.fault_error(fault, model))
        elif action == "malformed":
            await send_reply(send, wire.malformed(stream))
        elif op.name == "models":
            await send_reply(send, wire.models(query))
        elif op.name == "count_tokens":
            await send_reply(send, wire.count_tokens(body))
        elif op.name == "embeddings" or not stream:
            if op.name == "embeddings":
                reply = wire.embeddings(op, None if body is INVALID_JSON else body, model)
            else:
                reply = wire.complete(body, model, filtered=action == "content_filter")
            await (send_truncated(send, reply) if action in ("cut", "reset") else send_reply(send, reply))
        else:
            await self._answer_stream(wire, op, fault, body, model, query, receive, send, provider=provider)

    async def _answer_stream(
        self,
        wire: Wire,
        op: Operation,
        fault: Fault,
        body: Any,
        model: str,
        query: dict[str, str],
        receive: Receive,
        send: Send,
        *,
        provider: str,
    ) -> None:
        action = fault.action
        plan = wire.stream(body, model, filtered=action == "content_filter")
        events = plan.events
        if action in ("cut", "reset"):
            events = events[: min(int(fault.arg or 0), plan.terminal)]
        elif action == "stream_error":
            events = events[: min(wire.stream_error_after, plan.terminal)] + [wire.stream_error_event()]
        headers = wire.stream_headers(op, query)
        if wire.streams_as_array(query):
            await send_reply(send, Reply(headers=headers, body=wire.json_array(events)))
            return
        pieces = ([plan.preamble] if plan.preamble else []) + events
        reply = Reply(headers=headers, events=pieces)
        if fault.pace_ms:
            await send_paced(send, receive, reply, fault.pace_ms / 1000, lambda: self._note_abort(provider))
            return
        await send_reply(send, reply, abort_at_end=action == "reset")

    # ------------------------------------------------------------------ internals

    def _wire_for(self, label: str | None, rest: str, headers: Mapping[str, str]) -> Wire:
        return self._wires[emulated_kind(label=label, rest=rest, headers=headers)]

    def _fault_for(self, provider: str, spec: str | None) -> Fault:
        if spec:
            return parse_fault(spec)
        with self._lock:
            standing = self._faults.get(provider)
            if standing is None:
                return NO_FAULT
            if standing.remaining is not None:
                standing.remaining -= 1
                if standing.remaining <= 0:
                    del self._faults[provider]
            return standing.fault

    def _take_replay(self, provider: str) -> Reply | None:
        with self._lock:
            queue = self._replays.get(provider)
            return queue.popleft() if queue else None

    def _record(
        self,
        provider: str,
        method: str,
        rest: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: Any,
    ) -> None:
        shown = {k: ("***" if k in _SECRET_HEADERS else v) for k, v in headers.items()}
        entry = {
            "provider": provider,
            "method": method,
            "path": f"/{rest}",
            "query": {k: ("***" if k == "key" else v) for k, v in query.items()},
            "headers": shown,
            "body": None if body is INVALID_JSON else body,
        }
        with self._lock:
            self._counts.setdefault(provider, Counter())[f"{method} /{without_fault(rest)}"] += 1
            self._log.append(entry)


def create_app(**options: Any) -> Emulator:
    """A fresh emulator (ASGI app); options as for `Emulator`."""
    return Emulator(**options)
