"""Planning: the candidates of a request (the model asked for, then its fallbacks, narrowed by the
request's provider controls and the key's model list), ranked by `routing.selection` and reordered
by the client's `provider.sort` and `provider.order`; and what each candidate is sent and costs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import structlog
from django.conf import settings
from django.utils import timezone

from core.errors import ApiError
from providers.adapters.messages import ChatRequest
from providers.adapters.results import Usage
from providers.catalogue import Catalogue, ModelEntry, ProviderEntry
from providers.pricing import flat_pricing
from routing import breaker
from routing.commands import CompletionCommand
from routing.doors.parsed import RouteControls
from routing.selection import Candidate, rank_candidates, strategy_for
from routing.state import RoutingView

logger = structlog.get_logger(__name__)

# (provider, model, is_fallback): one candidate before ranking.
Choice = tuple[ProviderEntry, ModelEntry, bool]


@dataclass(frozen=True)
class Option:
    """One ranked candidate: the provider and model to call, and how selection saw them."""

    candidate: Candidate | None
    provider: ProviderEntry
    model: ModelEntry


def model_not_found(cmd: CompletionCommand, catalogue: Catalogue) -> ApiError:
    """The 404 of a model the catalogue does not serve (where the request is pinned, there)."""
    known = sorted({m.name for m in catalogue.models})
    context: dict[str, Any] = {"model": cmd.model, "available_models": known[:50]}
    if cmd.provider:
        context["provider"] = cmd.provider
        context["available_models"] = sorted({m.name for m in catalogue.models if m.provider == cmd.provider})
    where = f" on provider {cmd.provider!r}" if cmd.provider else ""
    return ApiError(
        f"Model {cmd.model!r} is not available{where}.",
        error_code="MODEL_NOT_FOUND",
        status_code=404,
        context=context,
    )


def provider_controls_check(*, route: RouteControls, pinned: str | None, catalogue: Catalogue) -> None:
    """Every provider the request names (its path or `provider`, `provider.order`, `provider.only`)
    must be one the catalogue has: naming another is the client's mistake, not an empty plan."""
    for where, names in (("provider.order", route.order), ("provider.only", route.only)):
        for name in names:
            if name not in catalogue.providers:
                raise ApiError(
                    f"Provider {name!r} in {where} is not configured or is disabled.",
                    error_code="PROVIDER_NOT_FOUND",
                    status_code=400,
                    context={"provider": name, "available_providers": sorted(catalogue.providers)},
                )
    if pinned and pinned not in catalogue.providers:
        raise ApiError(
            f"Provider {pinned!r} is not configured or is disabled.",
            error_code="PROVIDER_NOT_FOUND",
            status_code=404,
            context={"provider": pinned, "available_providers": sorted(catalogue.providers)},
        )


def provider_admitted(provider: ProviderEntry | None, *, pinned: str | None, route: RouteControls) -> bool:
    """Whether the request's pin and provider controls leave this provider in the plan."""
    if provider is None or (pinned and provider.name != pinned):
        return False
    if (route.only and provider.name not in route.only) or provider.name in route.ignore:
        return False
    return route.allow_fallbacks or not route.order or provider.name in route.order


def no_provider_allowed(model: str, route: RouteControls) -> ApiError:
    """The 400 of a known model whose every provider the request's provider controls leave out."""
    return ApiError(
        f"No provider of model {model!r} is left by the request's provider controls.",
        error_code="NO_PROVIDER_ALLOWED",
        status_code=400,
        context={"model": model, "provider": route.as_dict()},
    )


class Routed(Protocol):
    """A command routing resolves a model name for: a completion or an embeddings request."""

    @property
    def model(self) -> str: ...

    @property
    def provider(self) -> str | None: ...


RoutedT = TypeVar("RoutedT", bound=Routed)


def resolve_model_name(cmd: RoutedT, catalogue: Catalogue) -> RoutedT:
    """`provider/model` (as OpenRouter users write it) pins the request (a completion or embeddings
    command) to that provider, unless the whole string is itself a model name."""
    prefix, slash, rest = cmd.model.partition("/")
    if not slash or catalogue.models_named(cmd.model) or prefix not in catalogue.providers:
        return cmd
    if cmd.provider and cmd.provider != prefix:
        raise ApiError(
            f"Model {cmd.model!r} names provider {prefix!r}, but the request is for {cmd.provider!r}.",
            error_code="VALIDATION_ERROR",
            status_code=400,
            context={"model": cmd.model, "provider": cmd.provider},
        )
    return replace(cmd, model=rest, provider=prefix)


def chat_options(cmd: CompletionCommand, catalogue: Catalogue) -> list[Choice]:
    """(provider, model, is_fallback) for the model asked for, then its fallback chain, narrowed by
    the request's provider controls."""
    route = cmd.route
    allowed = {name.casefold() for name in cmd.allowed_models}
    provider_controls_check(route=route, pinned=cmd.provider, catalogue=catalogue)
    chosen: list[Choice] = []
    seen: set[tuple[str, str]] = set()

    def add(entries: Iterable[ModelEntry], is_fallback: bool) -> None:
        for entry in entries:
            if entry.kind != "chat":
                continue  # embedding models answer /v1/embeddings only (routing.embeddings)
            provider = catalogue.providers.get(entry.provider)
            if not provider_admitted(provider, pinned=cmd.provider, route=route):
                continue
            if allowed and not any(name.casefold() in allowed for name in entry.public_names):
                continue  # the key may not use this model, even as a fallback
            if (entry.provider, entry.name) not in seen:
                seen.add((entry.provider, entry.name))
                chosen.append((provider, entry, is_fallback))

    primary = tuple(entry for entry in catalogue.models_named(cmd.model) if entry.kind == "chat")
    add(primary, False)
    fallback_names = list(catalogue.fallbacks.get(cmd.model, ()))
    for entry in primary:
        fallback_names += [n for n in catalogue.fallbacks.get(entry.name, ()) if n not in fallback_names]
    if route.allow_fallbacks:
        for name in fallback_names:
            add(catalogue.models_named(name), True)
    if not chosen:
        if primary and not route.empty:
            raise no_provider_allowed(cmd.model, route)
        raise model_not_found(cmd, catalogue)
    return chosen


def chat_plan(cmd: CompletionCommand, catalogue: Catalogue, view: RoutingView) -> list[Option]:
    """The chat candidates, ranked; priced by input and output together."""
    return plan_ranked(
        chat_options(cmd, catalogue),
        view=view,
        route=cmd.route,
        price=lambda model: model.input_price_per_1m + model.output_price_per_1m,
    )


def plan_ranked(
    choices: list[Choice], *, view: RoutingView, route: RouteControls, price: Callable[[ModelEntry], Decimal]
) -> list[Option]:
    """Candidates ranked by the routing strategy over what this process knows of each provider,
    then by the client's own order."""
    options = []
    for provider, model, is_fallback in choices:
        stats = view.stats.get(provider.name)
        state = view.breakers.get(provider.name, breaker.BreakerState("closed"))
        candidate = Candidate(
            provider=provider.name,
            model=model.name,
            priority=provider.priority,
            weight=provider.weight,
            success_rate=stats.success_rate if stats else 1.0,
            avg_latency_ms=stats.avg_latency_ms if stats else None,
            health_status=view.health.get(provider.name, "unknown"),
            breaker_state=state.state,
            open_until=state.open_until,
            price_per_1m=price(model),
            is_fallback=is_fallback,
            context_window=model.context_window,
        )
        options.append(Option(candidate, provider, model))
    ranked = rank_candidates([o.candidate for o in options], strategy=strategy_for(settings.ROUTING_STRATEGY))
    by_candidate = {(o.candidate.provider, o.candidate.model): o for o in options}
    return route_order([by_candidate[(c.provider, c.model)] for c in ranked], route)


def route_order(plan: list[Option], route: RouteControls) -> list[Option]:
    """The client's `provider.sort` and `provider.order` over the ranked plan. Stable sorts within
    the model asked for and within its fallbacks (those still come after it), so the ranking
    decides among equals; open circuits still go last."""
    if route.sort == "price":
        plan = sorted(plan, key=lambda o: o.candidate.price_per_1m)
    elif route.sort == "latency":
        unknown = float("inf")  # providers with no latency yet go after measured ones
        plan = sorted(
            plan,
            key=lambda o: unknown if o.candidate.avg_latency_ms is None else o.candidate.avg_latency_ms,
        )
    if route.order:
        position = {name: index for index, name in enumerate(route.order)}
        plan = sorted(plan, key=lambda o: position.get(o.provider.name, len(position)))
    if route.sort or route.order:
        plan = sorted(plan, key=lambda o: (o.candidate.breaker_state == "open", o.candidate.is_fallback))
    return plan


def max_tokens_for(cmd: CompletionCommand, option: Option) -> int:
    """The output limit the candidate is sent."""
    # The provider's configured cap is the default; a client may ask for more (max_completion_tokens)
    # when the catalogue records how much the model itself allows, and up to that.
    model_max = option.model.max_output_tokens
    if cmd.max_tokens and model_max:
        return min(cmd.max_tokens, model_max)
    if cmd.max_tokens:
        return min(cmd.max_tokens, option.provider.max_tokens)
    return min(option.provider.max_tokens, model_max or option.provider.max_tokens)


def chat_request(cmd: CompletionCommand, option: Option) -> ChatRequest:
    """The request as the candidate's adapter takes it."""
    return ChatRequest(
        model=option.model.name,
        messages=list(cmd.messages),
        temperature=cmd.temperature,
        max_tokens=max_tokens_for(cmd, option),
        top_p=cmd.top_p,
        stop=list(cmd.stop) if cmd.stop else None,
        user=cmd.user,
        tools=list(cmd.tools) or None,
        tool_choice=cmd.tool_choice,
        parallel_tool_calls=cmd.parallel_tool_calls,
        response_format=cmd.response_format,
        reasoning_effort=cmd.reasoning_effort,
        options=dict(cmd.options),
        native=cmd.native,
    )


def option_cost(option: Option, usage: Usage) -> Decimal:
    """USD for the answer's whole usage at the model's price model (providers.pricing): every token
    class at its own price, long-context tiers, the prices in force now, operator overrides."""
    pricing = option.model.pricing or flat_pricing(
        input_per_1m=option.model.input_price_per_1m,
        output_per_1m=option.model.output_price_per_1m,
        cached_input_per_1m=option.model.cached_input_price_per_1m,
        fallback_cost_per_token=option.provider.fallback_cost_per_token,
    )
    if not pricing.priced and usage.total_tokens:
        logger.warning("model_not_priced", provider=option.provider.name, model=option.model.name)
    return pricing.cost(usage, at=timezone.now())
