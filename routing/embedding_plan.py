"""Planning an embeddings request: its candidates are the enabled providers that serve the embedding
model asked for (by name or alias), plus models the catalogue declares to share its vector space
(`embedding_space`); never a different model, and never the chat fallback chains. They are ranked
like chat candidates (`routing.planning`). A request larger than a provider takes in one call is cut
into batches here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from access.limits import Reservation
from core.errors import ApiError
from providers.adapters.messages import Message
from providers.adapters.results import Usage, estimate_text_tokens
from providers.catalogue import Catalogue, catalogue_current
from routing.attempts import Attempt
from routing.doors.parsed import RouteControls
from routing.planning import (
    Choice,
    Option,
    no_provider_allowed,
    option_cost,
    plan_ranked,
    provider_admitted,
    provider_controls_check,
)
from routing.state import RoutingView

EMBEDDING = "embedding"


@dataclass(frozen=True)
class EmbeddingCommand:
    """A validated embeddings request: texts, or token arrays (tuples of token ids)."""

    request_id: str
    model: str
    inputs: tuple[str | tuple[int, ...], ...]
    dimensions: int | None = None
    user: str | None = None
    provider: str | None = None
    api_key_id: int | None = None
    cache_read: bool = True
    cache_write: bool = True
    route: RouteControls = field(default_factory=RouteControls)
    drop_params: bool = False  # never: a vector without its dimensions is another vector
    # What admission reserved for this request; settled with the real amounts when it is recorded.
    reservation: Reservation | None = field(default=None, compare=False, repr=False)

    @property
    def messages(self) -> tuple[Message, ...]:
        """The texts as messages, for the completion log line and traces (with LOG_PROMPTS)."""
        return tuple(Message("user", item) for item in self.inputs if isinstance(item, str))

    @property
    def has_token_arrays(self) -> bool:
        return any(not isinstance(item, str) for item in self.inputs)

    def token_estimates(self) -> list[int]:
        return [estimate_text_tokens(i) if isinstance(i, str) else len(i) for i in self.inputs]


@dataclass
class EmbeddingResult:
    """The vectors in input order, what they cost, and how they were reached."""

    vectors: list[list[float]]
    model: str
    provider: str
    usage: Usage
    cost_usd: Decimal
    latency_ms: float
    attempts: list[Attempt]
    cache_hit: bool
    usage_estimated: bool = False

    @property
    def attempt_count(self) -> int:
        return len(self.attempts)


def _not_an_embedding_model(cmd: EmbeddingCommand, catalogue: Catalogue) -> ApiError:
    known = sorted({m.name for m in catalogue.models if m.kind == EMBEDDING})
    chat = bool(catalogue.models_named(cmd.model))
    message = (
        f"Model {cmd.model!r} is a chat model; /v1/embeddings needs an embedding model."
        if chat
        else f"Model {cmd.model!r} is not available."
    )
    return ApiError(
        message,
        error_code="MODEL_NOT_FOUND",
        status_code=404,
        context={"model": cmd.model, "available_models": known},
    )


async def embedding_reservation(cmd: EmbeddingCommand) -> tuple[int, Decimal]:
    """The request's worst case for admission: its estimated tokens on the dearest candidate."""
    catalogue = await catalogue_current()
    tokens = sum(cmd.token_estimates())
    try:
        options = embedding_candidates(cmd, catalogue)
    except ApiError:
        return tokens, Decimal(0)
    usage = Usage(prompt_tokens=tokens)
    cost = max((option_cost(Option(None, p, m), usage) for p, m, _ in options), default=Decimal(0))
    return tokens, cost


def embedding_candidates(cmd: EmbeddingCommand, catalogue: Catalogue) -> list[Choice]:
    """(provider, model, is_alternative): the model asked for wherever it is served, then the
    models declared to share its vector space, narrowed by the request's provider controls."""
    route = cmd.route
    provider_controls_check(route=route, pinned=cmd.provider, catalogue=catalogue)
    named = [entry for entry in catalogue.models_named(cmd.model) if entry.kind == EMBEDDING]
    if not named:
        raise _not_an_embedding_model(cmd, catalogue)
    spaces = {entry.embedding_space for entry in named if entry.embedding_space}
    alternatives = [
        entry
        for entry in catalogue.models
        if entry.kind == EMBEDDING and entry.embedding_space in spaces and entry not in named
    ]
    chosen: list[Choice] = []
    for entries, alternative in ((named, False), (alternatives, True)):
        if alternative and not route.allow_fallbacks:
            break
        for entry in entries:
            provider = catalogue.providers.get(entry.provider)
            if provider_admitted(provider, pinned=cmd.provider, route=route):
                chosen.append((provider, entry, alternative))
    if not chosen:
        if cmd.provider:
            raise ApiError(
                f"Model {cmd.model!r} is not available on provider {cmd.provider!r}.",
                error_code="MODEL_NOT_FOUND",
                status_code=404,
                context={"model": cmd.model, "provider": cmd.provider},
            )
        raise no_provider_allowed(cmd.model, route)
    return chosen


def embedding_plan(cmd: EmbeddingCommand, catalogue: Catalogue, view: RoutingView) -> list[Option]:
    """The embeddings candidates, ranked; priced by input (an embedding has no output)."""
    return plan_ranked(
        embedding_candidates(cmd, catalogue),
        view=view,
        route=cmd.route,
        price=lambda model: model.input_price_per_1m,
    )


def embedding_inputs_check(cmd: EmbeddingCommand, plan: list[Option], estimates: list[int]) -> None:
    """400s the client can fix, before any call: dimensions beyond the model's, an input longer
    than the model takes (named by its index)."""
    sizes = [o.model.dimensions for o in plan if o.model.dimensions]
    if cmd.dimensions is not None and sizes and cmd.dimensions > min(sizes):
        raise ApiError(
            f"dimensions {cmd.dimensions} is larger than the {min(sizes)} of model {cmd.model!r}.",
            error_code="VALIDATION_ERROR",
            status_code=400,
            context={"param": "dimensions", "model": cmd.model, "max_dimensions": min(sizes)},
        )
    windows = [o.model.context_window for o in plan if o.model.context_window]
    if not windows:
        return
    limit = min(windows)
    for index, tokens in enumerate(estimates):
        if tokens > limit:
            what = "tokens" if not isinstance(cmd.inputs[index], str) else "tokens (estimated)"
            raise ApiError(
                f"input[{index}] is {tokens:,} {what}, over the {limit:,}-token input limit of model "
                f"{cmd.model!r}. Shorten or split that input.",
                error_code="CONTEXT_LENGTH_EXCEEDED",
                status_code=400,
                context={"param": f"input[{index}]", "model": cmd.model, "tokens": tokens, "limit": limit},
            )


def batches(indices: Sequence[int], estimates: Sequence[int], max_batch: int, max_tokens: int | None):
    """`indices` cut into consecutive runs of at most `max_batch` inputs and `max_tokens` tokens."""
    runs: list[list[int]] = []
    run: list[int] = []
    total = 0
    for index in indices:
        tokens = estimates[index]
        if run and (len(run) >= max_batch or (max_tokens is not None and total + tokens > max_tokens)):
            runs.append(run)
            run, total = [], 0
        run.append(index)
        total += tokens
    if run:
        runs.append(run)
    return runs
