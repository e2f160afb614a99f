"""An atomic read-modify-write over a few shared-state keys, written once per store.

Redis runs the Lua source with EVALSHA (atomic on the server); the in-process store runs the Python
twin under its lock (atomic in the process). Both receive the same keys (without the store's
prefix, which the store adds) and arguments, and must return the same values: a list of ints and
strings, as Lua hands them back (a Lua number is truncated to an integer on the way out, so a
fractional number travels as a string).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class StateScript:
    """`lua`: the script for Redis (KEYS and ARGV as passed). `python(table, keys, args)`: the same
    logic on a `core.memory_state.MemoryTable`, whose operations mirror the Redis commands."""

    lua: str
    python: Callable[[Any, list[str], list], Any]
