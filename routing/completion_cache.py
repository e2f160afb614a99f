"""The response cache as completions use it: what keys an answer (everything that can change it,
within the client key's namespace), and an answer as stored and as read back."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from django.conf import settings

from providers.adapters.messages import ToolCall
from providers.adapters.results import ChatChoice, ChatResponse, Usage
from routing.commands import CompletionCommand
from routing.completions import CompletionResult
from routing.planning import Option


def cache_namespace(api_key_id: int | None) -> str:
    """The client key's own part of the cache, or the shared one (RESPONSE_CACHE_SHARED)."""
    if settings.RESPONSE_CACHE_SHARED or api_key_id is None:
        return "shared"
    return f"key:{api_key_id}"


def completion_cache_payload(cmd: CompletionCommand) -> dict[str, Any]:
    """Everything that can change the answer: two requests share a cache entry only if it is equal."""
    payload: dict[str, Any] = {
        # Each client key has its own cache unless the operator shares one (RESPONSE_CACHE_SHARED):
        # otherwise key B could read key A's answers, or learn what A asked.
        "namespace": cache_namespace(cmd.api_key_id),
        "messages": [[m.role, m.content] for m in cmd.messages],
        "model": cmd.model,
        "temperature": cmd.temperature,
        "max_tokens": cmd.max_tokens,
        "top_p": cmd.top_p,
        "stop": list(cmd.stop) if cmd.stop else None,
        "provider": cmd.provider,
    }
    rich = [m for m in cmd.messages if m.parts or m.tool_calls or m.tool_call_id or m.name or m.reasoning]
    if (
        rich or cmd.native or cmd.tools or cmd.response_format or cmd.reasoning_effort or cmd.options
        or not cmd.route.empty
    ):
        # Plain requests keep the short key above; anything richer is keyed by all of it.
        payload["full"] = {
            "messages": [asdict(m) for m in cmd.messages],
            "tools": [asdict(t) for t in cmd.tools],
            "tool_choice": asdict(cmd.tool_choice) if cmd.tool_choice else None,
            "parallel_tool_calls": cmd.parallel_tool_calls,
            "response_format": asdict(cmd.response_format) if cmd.response_format else None,
            "reasoning_effort": cmd.reasoning_effort,
            "options": cmd.options,
            "route": cmd.route.as_dict(),
            "drop_params": cmd.drop_params,
        }
        if cmd.native:
            payload["full"]["native"] = cmd.native
    return payload


def cache_entry(result: CompletionResult, *, option: Option, response: ChatResponse) -> dict[str, Any]:
    """An answer as the response cache keeps it."""
    entry: dict[str, Any] = {
        "content": result.content,
        "model": result.model,
        "provider": result.provider,
        "provider_name": option.provider.name,
        "finish_reason": result.finish_reason,
        "response_id": result.response_id,
        "usage": response.usage.as_dict(nonzero=True),
        "dropped": sorted(result.dropped),
    }
    # The parts of an answer beyond its text.
    if response.tool_calls:
        entry["tool_calls"] = [asdict(call) for call in response.tool_calls]
    if response.reasoning_text:
        entry["reasoning"] = response.reasoning_text
    if response.refusal:
        entry["refusal"] = response.refusal
    if response.logprobs is not None:
        entry["logprobs"] = response.logprobs
    if response.more_choices:
        entry["more_choices"] = [asdict(choice) for choice in response.more_choices]
    if response.provider_details.get("native"):
        entry["native"] = response.provider_details["native"]
    return entry


def _choice_from(data: dict[str, Any]) -> ChatChoice:
    calls = [ToolCall(**call) for call in data.get("tool_calls") or []]
    return ChatChoice(content=data["content"], finish_reason=data["finish_reason"], tool_calls=calls)


def cached_result(cached: dict[str, Any], *, latency_ms: float) -> CompletionResult:
    """An answer read back from the cache: free, and with no attempts."""
    return CompletionResult(
        content=cached["content"],
        model=cached["model"],
        provider=cached["provider"],
        usage=Usage.from_dict(cached["usage"]),
        finish_reason=cached["finish_reason"],
        cost_usd=Decimal("0"),
        latency_ms=latency_ms,
        attempts=[],
        cache_hit=True,
        response_id=cached.get("response_id"),
        tool_calls=[ToolCall(**call) for call in cached.get("tool_calls") or []],
        reasoning=cached.get("reasoning", ""),
        refusal=cached.get("refusal"),
        logprobs=cached.get("logprobs"),
        more_choices=[_choice_from(choice) for choice in cached.get("more_choices") or []],
        dropped=frozenset(cached.get("dropped") or ()),
        native=cached.get("native"),
    )
