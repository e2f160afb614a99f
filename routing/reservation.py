"""What admission holds against a key before a completion runs: a cheap estimate of the prompt and
the request's worst case on the dearest candidate it may be routed to."""

from __future__ import annotations

from decimal import Decimal

from core.errors import ApiError
from providers.adapters.messages import Message
from providers.adapters.results import Usage, estimate_text_tokens
from providers.catalogue import catalogue_current
from routing.commands import CompletionCommand
from routing.planning import Option, chat_options, max_tokens_for, option_cost, resolve_model_name

# An image counts as this many prompt tokens in the pre-call estimate (a high-detail tile set).
IMAGE_TOKENS_ESTIMATE = 1_000


def prompt_tokens_estimate(messages: tuple[Message, ...] | list[Message], tools=()) -> int:
    """A cheap pre-call estimate of the prompt (about four characters a token), for admission and
    for charging a stream that ended before the provider reported its usage."""
    texts: list[str] = []
    images = 0
    for message in messages:
        texts.append(message.content)
        for part in message.parts:
            text = getattr(part, "text", None)
            if text is not None:
                texts.append(text)
            else:
                images += 1
        texts += [call.name + call.arguments for call in message.tool_calls]
    texts += [f"{tool.name} {tool.description or ''} {tool.parameters or ''}" for tool in tools]
    return estimate_text_tokens("".join(texts)) + 4 * len(messages) + IMAGE_TOKENS_ESTIMATE * images


async def completion_reservation(cmd: CompletionCommand) -> tuple[int, Decimal]:
    """The request's worst case for admission: (tokens, USD) if it runs to its output limit on the
    dearest candidate it may be routed to (fallbacks included). (0, 0) when the model is not known:
    routing answers that with its own error."""
    catalogue = await catalogue_current()
    cmd = resolve_model_name(cmd, catalogue)
    try:
        options = chat_options(cmd, catalogue)
    except ApiError:
        return 0, Decimal(0)
    prompt = prompt_tokens_estimate(cmd.messages, cmd.tools)
    choices = max(1, int(cmd.options.get("n") or 1))
    tokens, cost = 0, Decimal(0)
    for provider, model, _ in options:
        option = Option(None, provider, model)
        worst = Usage(prompt_tokens=prompt, completion_tokens=choices * max_tokens_for(cmd, option))
        tokens = max(tokens, worst.total_tokens)
        cost = max(cost, option_cost(option, worst))
    return tokens, cost
