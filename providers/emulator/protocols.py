"""The protocols the emulator speaks, and how a request is recognised as one of them.

Every protocol module of `providers.emulator.wires` declares its entry (`EMULATED`); this module
collects them into the dispatch table, in their declared `order`. A request's protocol comes from
its provider-name prefix (`/<provider>/...`, a name starting with `name_prefix`), else from its
path and headers; the last entry takes whatever nothing else recognised. The path under the
provider name is the real API's, as the adapter packages declare it (`adapters.protocols`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Final

from providers.adapters import protocols as adapter_protocols

from . import wires
from .emulated import EmulatedProtocol


def _emulated_protocols() -> tuple[EmulatedProtocol, ...]:
    """Every protocol module's entry, in the order they are tried."""
    found: dict[str, EmulatedProtocol] = {}
    for info in pkgutil.iter_modules(wires.__path__):
        module = importlib.import_module(f"{wires.__name__}.{info.name}")
        protocol = getattr(module, "EMULATED", None)
        if protocol is None:
            continue
        if protocol.kind in found:
            raise ValueError(f"emulated protocol {protocol.kind!r} is declared twice")
        found[protocol.kind] = protocol
    ordered = sorted(found.values(), key=lambda protocol: protocol.order)
    orders = [protocol.order for protocol in ordered]
    # Equal orders would leave dispatch to the modules' names.
    if len(set(orders)) != len(orders):
        raise ValueError(f"emulated protocols share an order: {orders}")
    return tuple(ordered)


# In the order they are tried; the last one answers everything else.
EMULATED_PROTOCOLS: Final[tuple[EmulatedProtocol, ...]] = _emulated_protocols()
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
    """Guess the protocol from a provider name: the first entry whose `name_prefix` starts it, else the
    default."""
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
