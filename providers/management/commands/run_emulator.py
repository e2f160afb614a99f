"""`python manage.py run_emulator --port N [--host 127.0.0.1]`: serve the provider emulator."""

from __future__ import annotations

import uvicorn
from django.core.management.base import BaseCommand

from providers.emulator import Emulator


class Command(BaseCommand):
    help = (
        "Serve the provider emulator (OpenAI, DeepSeek, Anthropic and Gemini wire protocols with "
        "injectable faults). Point a provider at http://HOST:PORT/<provider name>, or set "
        "PROVIDER_EMULATOR_URL=http://HOST:PORT to point them all at it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8105, help="Port to listen on (default 8105).")
        parser.add_argument("--host", default="127.0.0.1", help="Interface to bind (default 127.0.0.1).")
        parser.add_argument(
            "--invalid-key-prefix",
            action="append",
            dest="invalid_key_prefixes",
            help="API keys starting with this are rejected (repeatable; default: invalid, bad).",
        )
        parser.add_argument(
            "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
        )

    def handle(self, *args, port, host, invalid_key_prefixes, log_level, **options):
        emulator = Emulator(invalid_key_prefixes=tuple(invalid_key_prefixes or ("invalid", "bad")))
        self.stdout.write(f"provider emulator on http://{host}:{port} (control API at /_emulator/...)")
        uvicorn.run(emulator, host=host, port=port, log_level=log_level, lifespan="off")
