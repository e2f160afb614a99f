"""OpenAI chat completions: OpenAI itself, DeepSeek and any OpenAI-compatible server.

`adapter` holds the adapters, `request` builds the request body, `response` reads whole and
streamed answers. The declarations below are read without importing the SDK (see `protocols`).
"""

from ..protocols import Protocol

PROTOCOLS = (
    Protocol(
        kind="openai",
        label="OpenAI",
        adapter="adapter:OpenAIAdapter",
        base_path="/v1",
        prices_provider="openai",
    ),
    Protocol(
        kind="openai_compatible",
        label="OpenAI-compatible",
        adapter="adapter:OpenAICompatibleAdapter",
        base_path="/v1",
    ),
    # Stored as kind "openai"; its base URL has no /v1.
    Protocol(
        kind="deepseek",
        label="DeepSeek",
        adapter="adapter:DeepSeekAdapter",
        base_path="",
        stored=False,
        dialect_of="openai",
        dialect_names=("deepseek",),
        dialect_hosts=("api.deepseek.com",),
    ),
)
