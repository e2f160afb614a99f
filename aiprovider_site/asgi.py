"""ASGI entry point.

Two Django handlers share the URLconf. Browser traffic (the admin, the API docs, and API calls that
carry a session cookie) goes through the full `MIDDLEWARE`. API calls with no session cookie go
through `API_MIDDLEWARE`, a short all-async stack: sessions, CSRF, messages and the like do nothing
for a bearer-key client, and each of Django's sync middlewares costs a thread hop per request.

Request bodies are measured on the way in (see aiprovider_site/request_body.py): Django would read
an oversized body whole before any middleware could refuse it, and take a chunked one for empty.

Django's handler has no lifespan support, so a small wrapper answers the lifespan protocol and
closes the provider clients of this worker's event loop on shutdown.
"""

import asyncio
import logging
import os
import time

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections, reset_queries
from django.http import HttpResponse
from django.urls import set_script_prefix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiprovider_site.settings")
django.setup(set_prefix=False)

from aiprovider_site.request_body import body_limited  # noqa: E402  (needs the settings above)


class ApiASGIHandler(ASGIHandler):
    """Django's ASGI handler with `API_MIDDLEWARE` instead of `MIDDLEWARE`, and without a
    per-request ThreadSensitiveContext: that context starts (and joins) a new thread for every
    request that makes any sync call, and an API request always makes some (DRF's authentication
    under adrf, the request signals). Without it they share asgiref's one sync thread, which
    holds nothing per request (no ORM query on the hot path once caches are warm)."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"the API handler serves HTTP only, not {scope['type']}")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        """Django 5.2's `ASGIHandler.handle` without its two trips to the sync thread per request:
        `request_started` (sent with `asend`, whose sync receivers hop) and `response.close()`
        (which sends `request_finished` from the thread). Their receivers are Django's database and
        cache housekeeping (`reset_queries`, `close_old_connections`, `close_caches`,
        `reset_urlconf`), which only matter to the sync thread's connections: an API request
        rarely touches them, so they run there at most once every `HOUSEKEEPING_S` seconds.
        Streams still close in the thread (their closers may block)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await _housekeeping()
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while the answer was being sent
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await _housekeeping()
        else:
            if isinstance(response, HttpResponse):  # bytes in memory: nothing to release
                response.closed = True
                await _housekeeping()
            else:
                await sync_to_async(response.close)()
        body_file.close()

    def load_middleware(self, is_async=False):
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = full


# Django's per-request housekeeping, on the API path at most this often (see ApiASGIHandler.handle).
HOUSEKEEPING_S = 1.0
_housekeeping_due = 0.0


def _db_and_cache_housekeeping() -> None:
    reset_queries()
    close_old_connections()
    close_caches()


async def _housekeeping() -> None:
    global _housekeeping_due
    now = time.monotonic()
    if now < _housekeeping_due:
        return
    _housekeeping_due = now + HOUSEKEEPING_S
    await sync_to_async(_db_and_cache_housekeeping)()


django_application = ASGIHandler()
api_application = ApiASGIHandler()

_API_PREFIXES = ("/api/v1/", "/v1/", "/health", "/status", "/metrics")
_SESSION_COOKIE = settings.SESSION_COOKIE_NAME.encode()

_shutdown_hooks: list = []


def on_shutdown(hook) -> None:
    """Register an async callable run once when the server shuts this worker down."""
    _shutdown_hooks.append(hook)


def _register_default_hooks() -> None:
    from core.shared_state import shared_state_aclose
    from providers.clients import provider_clients_aclose

    on_shutdown(provider_clients_aclose)
    on_shutdown(shared_state_aclose)


def _is_api_call(scope) -> bool:
    if not scope["path"].startswith(_API_PREFIXES):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"cookie" and _SESSION_COOKIE in value:
            return False  # a staff session (analytics in the browser): the full stack
    return True


async def _route(scope, receive, send):
    handler = api_application if _is_api_call(scope) else django_application
    return await handler(scope, receive, send)


# Bodies are measured before Django reads them (aiprovider_site/request_body.py): a declared length
# above API_MAX_BODY_BYTES is refused unread, a chunked body is read up to the limit and no further.
_http_application = body_limited(_route)


async def application(scope, receive, send):
    if scope["type"] == "http":
        return await _http_application(scope, receive, send)
    if scope["type"] != "lifespan":
        return await django_application(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            for hook in _shutdown_hooks:
                try:
                    await hook()
                except Exception:  # shutdown must go on; the hook's failure is only logged
                    logging.getLogger(__name__).exception("shutdown hook failed")
            await send({"type": "lifespan.shutdown.complete"})
            return


_register_default_hooks()
