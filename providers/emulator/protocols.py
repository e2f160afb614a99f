"""The protocols the emulator speaks, and how a request is recognised as one of them.

One entry per wire (wires.py); the app dispatches through this table. A request's protocol comes
from its provider-name prefix (`/<provider>/...`, a name starting with `name_prefix`), else from
its path and headers; the last entry takes whatever nothing else recognised. The path under the
provider name is the real API's, as the adapter packages declare it (`adapters.protocols`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from providers.adapters import protocols as adapter_protocols

from .wires import AnthropicWire, DeepSeekWire, GeminiWire, OpenAIWire, Wire


@dataclass(frozen=True, slots=True)
class EmulatedProtocol:
    """One wire and what recognises a request for it: a provider name starting with
    `name_prefix`, a path starting with one of `path_prefixes` or equal to one of `paths`, a
    header of `headers`, or (`bare_paths`) a real path without a provider name and without `v1/`.
    `model` is a model the emulator answers in this protocol, for examples and tests."""

    kind: str
    wire: type[Wire]
    model: str
    name_prefix: str = ""
    path_prefixes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    bare_paths: bool = False

    def recognises(self, *, name: str, bare: bool, rest: str, headers: Mapping[str, str]) -> bool:
        return (
            (bool(self.name_prefix) and name.startswith(self.name_prefix))
            or rest.startswith(self.path_prefixes)
            or rest in self.paths
            or any(header in headers for header in self.headers)
            or (self.bare_paths and bare and not rest.startswith("v1/"))
        )


# In the order they are tried; the last one answers everything else.
EMULATED_PROTOCOLS: Final[tuple[EmulatedProtocol, ...]] = (
    EmulatedProtocol(
        "gemini", GeminiWire, "gemini-2.5-flash", name_prefix="gemini", path_prefixes=("v1beta/",)
    ),
    EmulatedProtocol(
        "anthropic",
        AnthropicWire,
        "claude-sonnet-4-6",
        name_prefix="anthropic",
        paths=("v1/messages",),
        headers=("anthropic-version",),
    ),
    EmulatedProtocol("deepseek", DeepSeekWire, "deepseek-chat", name_prefix="deepseek", bare_paths=True),
    # Any OpenAI-compatible server: only ever chosen by its kind (`base_url_for`, tests).
    EmulatedProtocol("openai_compatible", OpenAIWire, "llama-3.1-8b-instruct"),
    EmulatedProtocol("openai", OpenAIWire, "gpt-4.1-mini"),
)
DEFAULT_KIND: Final = EMULATED_PROTOCOLS[-1].kind


def emulated_kind(*, label: str | None, rest: str, headers: Mapping[str, str]) -> str:
    """The protocol of a request to `/<label>/<rest>` (`label` None: a bare real path)."""
    name = (label or "").lower()
    for protocol in EMULATED_PROTOCOLS:
        if protocol.recognises(name=name, bare=label is None, rest=rest, headers=headers):
            return protocol.kind
    return DEFAULT_KIND


def emulated_model(kind: str) -> str:
    """A model the emulator answers in protocol `kind`."""
    return next(protocol.model for protocol in EMULATED_PROTOCOLS if protocol.kind == kind)


def kind_for_provider(provider: str) -> str:
    """Guess the protocol from a provider name (deepseek*, anthropic*, gemini*, else OpenAI)."""
    name = provider.lower()
    for protocol in EMULATED_PROTOCOLS:
        if protocol.name_prefix and name.startswith(protocol.name_prefix):
            return protocol.kind
    return DEFAULT_KIND


def base_url_for(root: str, provider: str, kind: str | None = None) -> str:
    """The base_url that points `provider` at an emulator served at `root`: the protocol its name
    suggests, when no `kind` is given or when that protocol is a dialect of `kind` (DeepSeek is
    stored as kind "openai", and its base URL has no /v1)."""
    guessed = kind_for_provider(provider)
    declared = adapter_protocols.protocol_for(guessed)
    if kind is None or (declared is not None and declared.dialect_of == kind):
        kind = guessed
    return f"{root.rstrip('/')}/{provider}{adapter_protocols.protocol_base_path(kind)}"
