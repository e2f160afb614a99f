"""How a request ends: its outcome built once (analytics.outcome.CompletionOutcome) and recorded
everywhere (usage record, metrics, log line, trace) with the key's reservation settled; and the
errors a request ends with when no candidate answered."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from access.limits import access_settle
from analytics.observe import completion_observed
from analytics.outcome import CompletionOutcome
from analytics.services import UsageEvent, usage_record_enqueue
from core.errors import ApiError
from providers.adapters.errors import ProviderError
from providers.adapters.results import Usage
from routing.attempts import Attempt, Router, error_code_of
from routing.planning import Option


def outcome_build(
    cmd: Any,
    *,
    status: str,
    latency_ms: float,
    attempts: list[Attempt],
    option: Option | None = None,
    provider: str = "",
    model: str = "",
    usage: Usage | None = None,
    cost: Decimal = Decimal("0"),
    error_code: str = "",
    streamed: bool = False,
    output: str | None = None,
    ttft_ms: float | None = None,
) -> CompletionOutcome:
    """The outcome of a completion or embeddings command; `option` names the provider and model
    that answered (or failed last), by their catalogue names."""
    if option is not None:
        provider, model = option.provider.name, option.model.name
    return CompletionOutcome(
        request_id=cmd.request_id,
        status=status,
        api_key_id=cmd.api_key_id,
        provider=provider,
        model=model,
        requested_model=cmd.model,
        usage=usage or Usage(),
        cost_usd=cost,
        latency_ms=round(latency_ms, 2),
        attempts=len(attempts),
        attempt_details=[a.as_detail() for a in attempts if a.upstream],
        error_code=error_code,
        streamed=streamed,
        ttft_ms=ttft_ms,
        messages=cmd.messages,
        output=output,
    )


async def outcome_record(cmd: Any, outcome: CompletionOutcome) -> None:
    """The one place every request ends: its usage record (with every upstream attempt, failed
    ones included), metrics, log line and trace, and the settling of what admission reserved."""
    completion_observed(outcome)
    await usage_record_enqueue(UsageEvent(**outcome.usage_record_fields()))
    reservation = getattr(cmd, "reservation", None)
    if reservation is not None:
        await access_settle(reservation, tokens=outcome.usage.total_tokens, cost_usd=outcome.cost_usd)


def client_error(router: Router, error: ProviderError) -> ApiError:
    """A provider's refusal of the request itself, as the client's error."""
    codes = {
        "bad_request": ("UPSTREAM_BAD_REQUEST", 400),
        "content_filtered": ("CONTENT_FILTERED", 400),
        "context_length_exceeded": ("CONTEXT_LENGTH_EXCEEDED", 400),
    }
    code, status = codes[error.kind]
    return ApiError(
        f"The provider refused the request: {error.message}",
        error_code=code,
        status_code=status,
        context={"provider": error.provider, "attempts": [a.as_context() for a in router.attempts]},
    )


def exhausted(router: Router) -> ApiError:
    """Every candidate failed (or none could be tried in time)."""
    if not router.attempts:
        message = "No provider could be tried within the deadline."
    else:
        message = "Every provider failed for this request."
    return ApiError(
        message,
        error_code="PROVIDER_UNAVAILABLE",
        status_code=503,
        context={"model": router.cmd.model, "attempts": [a.as_context() for a in router.attempts]},
        # The gateway has retried and failed over already: a client retry would repeat all of it.
        headers={"x-should-retry": "false"},
    )


async def completion_refused(
    router: Router, option: Option, error: ProviderError, *, streamed: bool = False
) -> ApiError:
    """A client error from the provider: recorded, and returned to raise without failover."""
    outcome = outcome_build(
        router.cmd,
        status="error",
        option=option,
        latency_ms=router.elapsed_ms(),
        attempts=router.attempts,
        error_code=error_code_of(error),
        streamed=streamed,
    )
    await outcome_record(router.cmd, outcome)
    return client_error(router, error)


async def completion_failed(router: Router, *, streamed: bool = False) -> ApiError:
    """No candidate answered: recorded, and returned to raise (a prompt too long for every
    model is the client's error; anything else is 503)."""
    if router.capable == 0 and router.unsupported:
        error = router.unsupported_error()
    elif router.last_error is not None and router.last_error.kind == "context_length_exceeded":
        error = client_error(router, router.last_error)
    else:
        error = exhausted(router)
    outcome = outcome_build(
        router.cmd,
        status="error",
        # A request pinned to one provider failed at that provider; otherwise at none in particular.
        provider=router.cmd.provider or "",
        latency_ms=router.elapsed_ms(),
        attempts=router.attempts,
        error_code=error.error_code,
        streamed=streamed,
    )
    await outcome_record(router.cmd, outcome)
    return error
