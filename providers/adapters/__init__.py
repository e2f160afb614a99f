"""Provider adapters: one module per wire protocol behind the interface in `base`.

Django-free: nothing here imports Django or the project's apps.
"""

from .base import (
    ERROR_KINDS,
    RETRYABLE_KINDS,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Message,
    ModelInfo,
    ProviderAdapter,
    ProviderConfig,
    ProviderError,
    Usage,
)
from .registry import ADAPTER_CLASSES, AdapterPool, adapter_for, adapter_kind

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
