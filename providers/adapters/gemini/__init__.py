"""Google Gemini Developer API (REST, v1beta) over the provider's aiohttp pool.

`adapter` holds the adapter, `request` builds the generateContent body, `response` reads whole and
streamed answers. The declaration below is read without importing the adapter (see `protocols`).
"""

from ..protocols import Protocol

PROTOCOLS = (
    Protocol(
        kind="gemini",
        label="Google Gemini",
        adapter="adapter:GeminiAdapter",
        base_path="/v1beta",
        prices_provider="google",
    ),
)
