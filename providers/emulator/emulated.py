"""An emulated protocol: one wire and what recognises a request for it.

Each protocol module of `providers.emulator.wires` declares its entry (`EMULATED`) next to its
wire class; `providers.emulator.protocols` collects them. This module imports no wire, so the
protocol modules can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .wires.base import Wire


@dataclass(frozen=True, slots=True)
class EmulatedProtocol:
    """One wire and what recognises a request for it: a provider name starting with
    `name_prefix`, a path starting with one of `path_prefixes` or equal to one of `paths`, a
    header of `headers`, or (`bare_paths`) a real path without a provider name and without `v1/`.
    `model` is a model the emulator answers in this protocol, for examples and tests.

    `order` places the entry in the dispatch table: lower is tried first, and the entry with the
    highest order answers every request nothing else recognised.
    """

    kind: str
    wire: type[Wire]
    model: str
    order: int
    name_prefix: str = ""
    path_prefixes: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    bare_paths: bool = False

    def recognises(self, *, name: str, bare: bool, rest: str, headers: Mapping[str, str]) -> bool:
        """Whether a request to `/<name>/<rest>` (`bare`: without a provider name) is for this protocol."""
        return (
            (bool(self.name_prefix) and name.startswith(self.name_prefix))
            or rest.startswith(self.path_prefixes)
            or rest in self.paths
            or any(header in headers for header in self.headers)
            or (self.bare_paths and bare and not rest.startswith("v1/"))
        )
