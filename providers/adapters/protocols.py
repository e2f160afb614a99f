"""The wire protocols the gateway speaks, as each adapter package declares them.

Every subpackage of `providers.adapters` that holds an adapter declares its protocols in its
`__init__` (`PROTOCOLS`), without importing its SDK: the data model's `Provider.kind` choices, the
catalogue's base URLs and the emulator read these declarations at start-up, while the adapter
classes (and their SDKs, seconds of imports) are loaded only by the registry, on first use.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, replace
from typing import Final

_PACKAGE: Final = "providers.adapters"


@dataclass(frozen=True, slots=True)
class Protocol:
    """One wire protocol (or a dialect of one).

    `adapter` names the adapter class within the declaring package ("module:Class"); `base_path`
    is the path the real API serves under its host ("/v1", "" for none), which an SDK expects at
    the end of a base URL. `prices_provider` is the genai-prices provider id whose default prices
    apply to this protocol's models when the provider's own name finds none ("" for none). A
    dialect (`stored=False`) is not a `Provider.kind` of its own: a provider of kind `dialect_of`
    is taken for it by its name or by its base URL's host.
    """

    kind: str
    label: str
    adapter: str
    base_path: str
    prices_provider: str = ""
    stored: bool = True
    dialect_of: str = ""
    dialect_names: tuple[str, ...] = ()
    dialect_hosts: tuple[str, ...] = ()


@functools.cache
def protocols_all() -> dict[str, Protocol]:
    """Every declared protocol by kind, in the order of the packages' names."""
    found: dict[str, Protocol] = {}
    package = importlib.import_module(_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{_PACKAGE}.{info.name}")
        for protocol in getattr(module, "PROTOCOLS", ()):
            if protocol.kind in found:
                raise ValueError(f"protocol {protocol.kind!r} is declared twice")
            # `adapter` made absolute: the module path within the declaring package
            found[protocol.kind] = replace(protocol, adapter=f"{module.__name__}.{protocol.adapter}")
    return found


def protocol_for(kind: str) -> Protocol | None:
    return protocols_all().get(kind)


def provider_kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every protocol an operator can choose for a provider (`Provider.kind`)."""
    return [(p.kind, p.label) for p in protocols_all().values() if p.stored]


def protocol_dialect(*, kind: str, name: str, host: str) -> str:
    """The protocol a provider of `kind` speaks: a dialect of it, by provider name or host, else `kind`."""
    name, host = name.lower(), host.lower()
    for protocol in protocols_all().values():
        if protocol.dialect_of == kind and name in protocol.dialect_names:
            return protocol.kind
    for protocol in protocols_all().values():
        if protocol.dialect_of == kind and host in protocol.dialect_hosts:
            return protocol.kind
    return kind


def protocol_base_path(kind: str) -> str:
    """The real API's path under its host for `kind` ("/v1" when the kind is unknown)."""
    protocol = protocols_all().get(kind)
    return protocol.base_path if protocol is not None else "/v1"
