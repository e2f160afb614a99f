"""The other parameters of a Chat Completions body, carried to providers by their OpenAI names."""

from __future__ import annotations

from typing import Any

from routing.doors.common import (
    DoorError,
    flag_parse,
    identifiers_parse,
    integer_parse,
    metadata_parse,
    number_parse,
    service_tier_parse,
)


def _sampling_options(body: dict, options: dict[str, Any]) -> None:
    """seed, n, log probabilities, penalties and logit bias, without the ones that restate a default."""
    seed = integer_parse(body, "seed", -(2**63), 2**63 - 1)
    if seed is not None:
        options["seed"] = seed
    n = integer_parse(body, "n", 1, 128)
    if n is not None and n > 1:
        options["n"] = n
    logprobs = flag_parse(body, "logprobs")
    top = integer_parse(body, "top_logprobs", 0, 20)
    if top is not None and not logprobs:
        raise DoorError("top_logprobs requires logprobs: true", param="top_logprobs")
    if logprobs:
        options["logprobs"] = True
        if top is not None:
            options["top_logprobs"] = top
    for name in ("presence_penalty", "frequency_penalty"):
        value = number_parse(body, name, -2.0, 2.0)
        if value:
            options[name] = value
    bias = body.get("logit_bias")
    if bias is not None:
        if not isinstance(bias, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and -100 <= v <= 100 for v in bias.values()
        ):
            raise DoorError(
                "logit_bias must map token ids to numbers between -100 and 100", param="logit_bias"
            )
        if bias:
            options["logit_bias"] = bias


def chat_options_parse(body: dict) -> dict[str, Any]:
    """The other OpenAI parameters, checked, without the ones that only restate a default."""
    options: dict[str, Any] = {}
    _sampling_options(body, options)
    metadata = metadata_parse(body.get("metadata"))
    if metadata:
        options["metadata"] = metadata
    service_tier_parse(body, options)
    if flag_parse(body, "store"):
        options["store"] = True
    identifiers_parse(body, options)
    verbosity = body.get("verbosity")
    if verbosity is not None:
        if verbosity not in ("low", "medium", "high"):
            raise DoorError("verbosity must be low, medium or high", param="verbosity")
        options["verbosity"] = verbosity
    return options
