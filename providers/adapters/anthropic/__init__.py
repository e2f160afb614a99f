"""Anthropic Messages API through the official `anthropic` SDK.

`adapter` holds the adapter, `request` builds the request body (or adjusts a client's own one),
`response` reads whole and streamed answers. The declaration below is read without importing the
SDK (see `protocols`).
"""

from ..protocols import Protocol

PROTOCOLS = (
    Protocol(
        kind="anthropic",
        label="Anthropic",
        adapter="adapter:AnthropicAdapter",
        base_path="",
        prices_provider="anthropic",
    ),
)
