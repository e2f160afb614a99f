"""The attempt loop: one request's walk over its ranked plan within its deadline, and the calls to
one candidate (retried on the same provider after a back-off, as the failure allows).

Plain answers (`routing.hedging`), streams (`routing.streams`) and embeddings (`routing.embeddings`)
all call a candidate through `candidate_call`. Only a ProviderError is the provider's failure:
anything else a call raises is a bug of ours, which leaves the loop as it is (our 500) without a
retry, a failover or a mark against the provider's circuit.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from django.conf import settings

from core.errors import ApiError
from providers.adapters.errors import ProviderError
from providers.adapters.messages import ChatRequest
from providers.catalogue import Catalogue
from providers.clients import provider_adapter
from routing import breaker
from routing.bookkeeping import best_effort, provider_failure_note
from routing.commands import CompletionCommand
from routing.planning import Option, chat_plan, chat_request
from routing.state import RoutingView

logger = structlog.get_logger(__name__)

T = TypeVar("T")

# Failures that say nothing about the provider's health: the request itself was refused.
CLIENT_ERROR_KINDS = frozenset({"bad_request", "content_filtered"})
# Worth a second try on the same provider after a short back-off. Not a 429: its Retry-After has
# opened the circuit, and another provider answers sooner than waiting it out.
SAME_PROVIDER_RETRY_KINDS = frozenset({"connection", "unavailable", "invalid_response"})
# Attempts that never called the provider: not counted as the provider's attempts.
NOT_CALLED_CODES = frozenset({"PROVIDER_NOT_CONFIGURED"})


@dataclass
class Attempt:
    """One try of one candidate: an upstream call (`error_code` None when it answered), or a
    candidate passed over without a call (PROVIDER_NOT_CONFIGURED)."""

    provider: str
    model: str
    error_code: str | None = None
    message: str = ""
    latency_ms: float = 0.0

    def as_context(self) -> dict[str, Any]:
        """As an error's context lists it."""
        return {"provider": self.provider, "model": self.model, "error_code": self.error_code}

    @property
    def upstream(self) -> bool:
        """A call reached (or tried to reach) the provider."""
        return self.error_code not in NOT_CALLED_CODES

    def as_detail(self) -> dict[str, Any]:
        """As kept on the usage record: every upstream attempt, failed ones too."""
        return {
            "provider": self.provider,
            "model": self.model,
            "error_code": self.error_code or "",
            "latency_ms": round(self.latency_ms, 2),
        }


def error_code_of(error: ProviderError) -> str:
    """A provider failure's code on the record (`UNAVAILABLE`, `TIMEOUT`, ...)."""
    return error.kind.upper()


class Refused(Exception):
    """A client error from a provider: the request stops here, without failover."""

    def __init__(self, option: Option, error: ProviderError) -> None:
        super().__init__(error.message)
        self.option = option
        self.error = error


class Router:
    """Walks the ranked plan for one request, within its deadline."""

    def __init__(
        self,
        cmd: CompletionCommand,
        catalogue: Catalogue,
        view: RoutingView,
        plan: list[Option] | None = None,
    ) -> None:
        self.cmd = cmd
        self.view = view
        # `plan`: a ranked plan made elsewhere (routing.embeddings), else the chat plan.
        self.plan = chat_plan(cmd, catalogue, view) if plan is None else plan
        self.started = time.monotonic()
        self.deadline = self.started + settings.ROUTING_DEADLINE_S
        self.attempts: list[Attempt] = []
        self.context_limit: int | None = None  # set when a prompt was too long for some model
        self.tried_open = False
        self.last_error: ProviderError | None = None
        # Candidates passed over because they cannot honour part of the request, and what.
        self.unsupported: dict[str, set[str]] = {}
        self.capable = 0
        self.dropped: set[str] = set()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def request_for(self, option: Option) -> Any:
        """The request as this candidate will get it; None if it cannot honour part of it (unless
        the client opted into dropping what it cannot honour)."""
        request = chat_request(self.cmd, option)
        if not request.features():
            return request
        missing = provider_adapter(option.provider).unsupported(request) | (
            request.features() & option.model.lacks
        )
        if not missing:
            return request
        if self.cmd.drop_params:
            self.dropped |= missing
            return request.without(missing)
        self.unsupported[f"{option.provider.name}/{option.model.name}"] = missing
        return None

    async def options(self) -> AsyncIterator[tuple[Option, breaker.BreakerState, ChatRequest]]:
        """Candidates worth calling, in order, each admitted by its breaker, with their request."""
        for option in self.plan:
            if self.remaining() <= 0:
                return
            request = self.request_for(option)
            if request is None:
                continue
            self.capable += 1
            if not option.provider.configured:
                self.attempts.append(
                    Attempt(
                        option.provider.name, option.model.name, "PROVIDER_NOT_CONFIGURED",
                        "no API key in the environment",
                    )
                )
                continue
            if self.context_limit is not None:
                window = option.model.context_window
                if not window or window <= self.context_limit:
                    continue
            state = self.view.breakers.get(option.provider.name, breaker.BreakerState("closed"))
            if await self._admitted(option, state):
                yield option, state, request

    async def _admitted(self, option: Option, state: breaker.BreakerState) -> bool:
        """Whether the candidate's breaker lets a call through now."""
        if state.state == "open":
            # Reached only when nothing usable answered: try the soonest to cool down, once.
            if self.tried_open or any(a.error_code is None for a in self.attempts):
                return False
            self.tried_open = True
        elif state.state == "half_open":
            won = await best_effort(
                breaker.breaker_try_probe(provider=option.provider.name, ttl_s=option.provider.timeout_s),
                "probe_lock",
            )
            if won is False:
                return False
        return True

    def timeout_for(self, option: Option) -> float:
        """The whole call's bound: a non-streamed answer, or a stream's connection."""
        return max(0.05, min(option.provider.timeout_s, self.remaining()))

    def first_byte_timeout_for(self, option: Option) -> float:
        """How long a stream may take to its first chunk before the next candidate is tried."""
        first_byte = settings.ROUTING_FIRST_BYTE_TIMEOUT_S  # 0: the call's own timeout only
        return min(first_byte, self.timeout_for(option)) if first_byte > 0 else self.timeout_for(option)

    def answered(self, option: Option, latency_ms: float) -> None:
        """The candidate answered: its attempt goes on the record."""
        self.attempts.append(Attempt(option.provider.name, option.model.name, None, "", latency_ms))

    def lost(self, option: Option, started: float, *, reason: str) -> None:
        """A call cancelled unanswered because another candidate answered first (routing.hedging)."""
        self.attempts.append(
            Attempt(option.provider.name, option.model.name, reason, "", (time.monotonic() - started) * 1000)
        )

    async def backoff(self, retry: int, error: ProviderError) -> bool:
        """Wait before retrying the same provider; False when there is no time for it."""
        if error.retry_after is not None:
            delay = error.retry_after
            if delay > settings.ROUTING_BACKOFF_MAX_S:
                return False
        else:
            delay = min(settings.ROUTING_BACKOFF_MAX_S, settings.ROUTING_BACKOFF_BASE_S * 2**retry)
            delay *= random.uniform(0.5, 1.5)
        if delay >= self.remaining() - 0.05:
            return False
        await asyncio.sleep(delay)
        return True

    def failure(self, option: Option, error: ProviderError, started: float) -> None:
        self.last_error = error
        self.attempts.append(
            Attempt(
                option.provider.name,
                option.model.name,
                error_code_of(error),
                error.message[:300],
                (time.monotonic() - started) * 1000,
            )
        )
        logger.info(
            "provider_attempt_failed",
            provider=option.provider.name,
            model=option.model.name,
            error_kind=error.kind,
            retryable=error.retryable,
        )

    def unsupported_error(self) -> ApiError:
        common = set.intersection(*self.unsupported.values())
        names = sorted(common or set.union(*self.unsupported.values()))
        return ApiError(
            f"No provider for model {self.cmd.model!r} supports {', '.join(names)}. Remove "
            f"{'it' if len(names) == 1 else 'them'}, choose another model, or send X-Drop-Params: true "
            "to have what a provider cannot honour left out.",
            error_code="UNSUPPORTED_PARAMETER",
            status_code=400,
            context={
                "model": self.cmd.model,
                "param": names[0],
                "unsupported": {k: sorted(v) for k, v in self.unsupported.items()},
            },
        )

    async def handle_failure(self, option: Option, state, error: ProviderError, retry: int) -> str:
        """What to do after a failed call: 'retry' the same provider, 'next' one, or 'stop'."""
        if error.kind in CLIENT_ERROR_KINDS:
            return "stop"
        if error.kind == "context_length_exceeded":
            self.context_limit = max(self.context_limit or 0, option.model.context_window or 0)
            return "next"
        await provider_failure_note(option, state, error, self.view)
        if (
            error.retryable
            and error.kind in SAME_PROVIDER_RETRY_KINDS
            and retry < option.provider.max_retries
            and state.state == "closed"
            and await self.backoff(retry, error)
        ):
            return "retry"
        return "next"


async def candidate_call(
    router: Router,
    option: Option,
    state: breaker.BreakerState,
    call: Callable[[], Awaitable[T]],
    *,
    on_call: Callable[[float], None] | None = None,
) -> tuple[T, float] | None:
    """`call()` on one candidate, retried on the same provider as `Router.handle_failure` decides:
    (its answer, when the answering call started), or None when the candidate failed for good and
    the next one may answer. A client error raises Refused. `on_call` hears when each call starts."""
    retry = 0
    while True:
        started = time.monotonic()
        if on_call is not None:
            on_call(started)
        try:
            return await call(), started
        except ProviderError as error:
            router.failure(option, error, started)
            decision = await router.handle_failure(option, state, error, retry)
            if decision == "stop":
                raise Refused(option, error) from None
            if decision != "retry":
                return None
            retry += 1
