"""The deadline of each wait for a stream's next chunk, with one timer for the whole stream.

`asyncio.timeout` around each wait would do, but it creates, schedules and cancels a timer per
chunk: about a third of the CPU of a fast stream (bench/stream_chunks.py). Here the timer is
armed once and, when it fires while a chunk has just arrived, re-armed for the current wait's own
deadline; a wait that outlasts its limit cancels the waiting task, and the cancellation comes out
as `TimeoutError`, as from `asyncio.timeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")

# A timer may run a little before its time (the loop's clock resolution): this close is due.
_EARLY_S = 0.001


class ChunkDeadline:
    """Bounds each `next_of(stream, limit)` by `limit` seconds. Not shared between streams; `close`
    it when the stream ends."""

    __slots__ = ("_cancelling", "_due", "_expired", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None
        self._due: float | None = None  # the current wait's deadline; None between waits
        self._cancelling = 0
        self._expired = False

    async def next_of(self, stream: AsyncIterator[T], limit: float) -> T:
        """The next item of `stream`, or TimeoutError after `limit` seconds without one."""
        loop = self._loop
        due = loop.time() + limit
        # The task is looked up per wait: a consumer may read a stream from more than one task.
        self._task = task = asyncio.current_task()
        self._cancelling = task.cancelling() if task is not None else 0
        handle = self._handle
        if handle is None or handle.when() > due:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(due, self._fire)
        self._due = due
        try:
            return await anext(stream)
        except BaseException as exc:
            # Our own cancellation is taken back (whatever the stream turned it into) and, when
            # nothing else cancelled the task, reported as the timeout it is.
            if self._expired and task is not None:
                if task.uncancel() <= self._cancelling and isinstance(exc, asyncio.CancelledError):
                    raise TimeoutError from None
            raise
        finally:
            self._due = None

    def _fire(self) -> None:
        self._handle = None
        due = self._due
        if due is None:
            return  # between waits: the next wait arms the timer again
        if self._loop.time() + _EARLY_S < due:
            self._handle = self._loop.call_at(due, self._fire)  # a later wait than the one armed for
            return
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
