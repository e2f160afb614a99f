"""Counting a request's input tokens as Anthropic's count_tokens does: Anthropic's own count where
an Anthropic provider serves the model, else the Anthropic door's documented estimate."""

from __future__ import annotations

import structlog

from providers.adapters.errors import ProviderError
from providers.adapters.messages import ChatRequest
from providers.catalogue import catalogue_current
from providers.clients import provider_adapter
from routing.commands import CompletionCommand
from routing.doors.anthropic_messages.tokens import messages_tokens_estimate
from routing.planning import chat_options, resolve_model_name
from routing.state import routing_view

logger = structlog.get_logger(__name__)


async def input_tokens_count(cmd: CompletionCommand) -> tuple[int, str | None]:
    """(input tokens, the provider that counted them): Anthropic's own count when an Anthropic
    provider serves the model (itself, not a fallback), otherwise, or when it cannot be reached, the
    door's documented estimate (provider None)."""
    catalogue = await catalogue_current()
    cmd = resolve_model_name(cmd, catalogue)
    view = await routing_view(list(catalogue.providers))
    for provider, model, is_fallback in chat_options(cmd, catalogue):
        if is_fallback:
            break
        adapter = provider_adapter(provider)
        count = getattr(adapter, "count_tokens", None)
        state = view.breakers.get(provider.name)
        if count is None or not provider.configured or (state is not None and state.state == "open"):
            continue
        request = ChatRequest(
            model=model.name,
            messages=list(cmd.messages),
            tools=list(cmd.tools) or None,
            tool_choice=cmd.tool_choice,
            reasoning_effort=cmd.reasoning_effort,
            response_format=cmd.response_format,
            native=cmd.native,
        )
        try:
            return await count(request), provider.display_name
        except ProviderError as error:
            logger.info("count_tokens_failed", provider=provider.name, error_kind=error.kind)
            break
    return messages_tokens_estimate((cmd.native or {}).get("body") or {}), None
