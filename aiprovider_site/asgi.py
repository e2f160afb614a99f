"""ASGI entry point. Django's handler has no lifespan support, so a small wrapper answers the
lifespan protocol and closes the provider clients of this worker's event loop on shutdown."""

import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiprovider_site.settings")

django_application = get_asgi_application()

_shutdown_hooks: list = []


def on_shutdown(hook) -> None:
    """Register an async callable run once when the server shuts this worker down."""
    _shutdown_hooks.append(hook)


def _register_default_hooks() -> None:
    from aiprovider_site.shared_state import shared_state_aclose
    from providers.clients import provider_clients_aclose

    on_shutdown(provider_clients_aclose)
    on_shutdown(shared_state_aclose)


async def application(scope, receive, send):
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
