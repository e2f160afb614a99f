"""Provider adapters: one package per wire protocol (openai, anthropic, gemini) behind the
interface in `base`, each declaring its protocols in its `__init__` (see `protocols`); the types
they share are in `messages` (requests), `results` (answers) and `errors`.

Django-free: nothing here imports Django or the project's apps.
"""

from .base import ProviderAdapter, ProviderConfig
from .errors import ERROR_KINDS, RETRYABLE_KINDS, ProviderError
from .messages import ChatRequest, Message
from .results import ChatChunk, ChatResponse, ModelInfo, Usage

_REGISTRY_NAMES = frozenset({"ADAPTER_CLASSES", "AdapterPool", "adapter_for", "adapter_kind"})


def __getattr__(name: str):
    # The registry imports every provider SDK (seconds of start-up); load it only when asked for,
    # so `from providers.adapters.results import Usage` stays cheap for commands and the admin.
    if name in _REGISTRY_NAMES:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ADAPTER_CLASSES",
    "ERROR_KINDS",
    "RETRYABLE_KINDS",
    "AdapterPool",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Message",
    "ModelInfo",
    "ProviderAdapter",
    "ProviderConfig",
    "ProviderError",
    "Usage",
    "adapter_for",
    "adapter_kind",
]
