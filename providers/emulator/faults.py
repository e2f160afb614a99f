"""Fault specifications understood by the emulator.

A spec is a comma-separated list of `name` or `name:argument` items, for example
`latency:200,status:503`. `latency`, `pace` and `prompt_tokens` combine with any one other fault:

    latency:<ms>        wait before answering
    pace:<ms>           streams: wait between events (a slow generation; disconnects are counted)
    prompt_tokens:<n>   report <n> prompt tokens in the usage, whatever the prompt (a provider's
                        bogus count, e.g. 3000000000)
    status:<code>       the provider's own error body for that HTTP status
    rate_limit:<s>      429 with the provider's retry hint (Retry-After, RetryInfo) set to <s>
    quota               the provider's non-retryable quota/billing error (429 or 402)
    context_length      the provider's context-length 400
    hang                never answer; wait until the client disconnects
    drop                close the connection without any response
    malformed           200 with a body that is not JSON (or an SSE stream of non-JSON data)
    cut:<n>             streams: stop cleanly after <n> events, before any finish/usage event;
                        non-streamed: close the connection halfway through the body
    reset:<n>           streams: abort the connection after <n> events (a network failure
                        mid-stream); non-streamed: as cut
    stream_error        streams: the provider's in-stream error after a few events;
                        non-streamed: the equivalent HTTP error (500/529/503)
    content_filter      a 200 whose answer was filtered (OpenAI finish_reason content_filter,
                        Anthropic stop_reason refusal, Gemini promptFeedback.blockReason)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# action -> argument type (None: takes no argument)
_ACTIONS: Final[dict[str, type | None]] = {
    "status": int,
    "rate_limit": float,
    "quota": None,
    "context_length": None,
    "hang": None,
    "drop": None,
    "malformed": None,
    "cut": int,
    "reset": int,
    "stream_error": None,
    "content_filter": None,
}

MODEL_FAULT_MARKER: Final = "@fault="


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Fault:
    latency_ms: float = 0.0
    pace_ms: float = 0.0
    action: str | None = None
    arg: float | None = None
    prompt_tokens: int | None = None

    @property
    def is_empty(self) -> bool:
        return not self.latency_ms and not self.pace_ms and self.action is None and self.prompt_tokens is None


NO_FAULT: Final = Fault()


def parse_fault(spec: str | None) -> Fault:
    """Parse a fault spec; raises FaultSpecError on anything unknown or malformed."""
    if not spec or not spec.strip():
        return NO_FAULT
    latency = 0.0
    pace = 0.0
    action: str | None = None
    arg: float | None = None
    prompt_tokens: int | None = None
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, _, raw = item.partition(":")
        name = name.strip().lower()
        if name == "latency":
            latency = _number(name, raw, float)
            continue
        if name == "pace":
            pace = _number(name, raw, float)
            continue
        if name == "prompt_tokens":
            prompt_tokens = int(_number(name, raw, int))
            continue
        if name not in _ACTIONS:
            raise FaultSpecError(f"unknown fault {name!r}")
        if action is not None:
            raise FaultSpecError(f"only one fault besides latency: got {action!r} and {name!r}")
        kind = _ACTIONS[name]
        action = name
        if kind is None:
            if raw:
                raise FaultSpecError(f"fault {name!r} takes no argument")
        else:
            arg = _number(name, raw, kind)
    if action == "status" and not (100 <= int(arg or 0) <= 599):
        raise FaultSpecError("status must be an HTTP status code")
    return Fault(latency_ms=latency, pace_ms=pace, action=action, arg=arg, prompt_tokens=prompt_tokens)


def split_model(model: str) -> tuple[str, str | None]:
    """`gpt-4o-mini@fault=status:503` -> (`gpt-4o-mini`, `status:503`)."""
    if MODEL_FAULT_MARKER in model:
        base, _, spec = model.partition(MODEL_FAULT_MARKER)
        return base, spec
    return model, None


def _number(name: str, raw: str, kind: type) -> float:
    try:
        value = kind(raw.strip())
    except ValueError:
        raise FaultSpecError(f"fault {name!r} needs a numeric argument, got {raw!r}") from None
    if value < 0:
        raise FaultSpecError(f"fault {name!r} needs a non-negative argument")
    return value
