"""Periodic provider-health work. Thin: each task calls one service (schedules: operations.schedules).

The hourly health report joins probes with usage records, so it is composed above the apps:
operations/tasks.py."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from core.shared_state import shared_state_aclose
from providers.clients import provider_clients_aclose
from providers.health import health_checks_prune, health_probe_exclusive


async def _then_close(coro: Coroutine[Any, Any, Any]) -> Any:
    # The ORM work of the coroutine runs in asgiref's sync thread, which Celery's per-task
    # connection handling does not reach: drop a stale connection before, and ours after.
    await sync_to_async(close_old_connections)()
    try:
        return await coro
    finally:
        # The loop ends with the task: close its provider and Redis clients with it.
        await provider_clients_aclose()
        await shared_state_aclose()
        await sync_to_async(close_old_connections)()


def run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run `coro` to completion from sync code.

    On a worker there is no running loop and `asyncio.run` is right. A task run eagerly (no Redis)
    from async code is called inside a running loop, where `asyncio.run` refuses: then the
    coroutine gets a fresh loop in a thread of its own.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_then_close(coro))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eager-task") as pool:
        # Only this thread's own clients are closed here: the caller's loop keeps its own.
        return pool.submit(asyncio.run, _close_state_after(coro)).result()


async def _close_state_after(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coro
    finally:
        await provider_clients_aclose()  # this loop's connection pools; the caller's stay open
        await shared_state_aclose()


@shared_task(name="providers.health_probe", ignore_result=True)
def health_probe_task() -> dict | None:
    """One probe round for the fleet (skipped when another is running)."""
    return run_coroutine(health_probe_exclusive())


@shared_task(name="providers.health_prune", ignore_result=True)
def health_prune_task() -> int:
    """Delete probe results older than HEALTH_RETENTION_DAYS."""
    return health_checks_prune(older_than_days=settings.HEALTH_RETENTION_DAYS)
