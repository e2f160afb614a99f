"""`make run`'s development key: created on first start, shown on every start, never in production.

Only the SHA-256 of a secret is in the database, so to show the secret again it is kept in
`var/dev-api-key` (mode 0600), in development mode only. A site command, not an access one: the
example it prints depends on which providers have a key.
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from access.models import ApiKey, ApiKeyScope
from access.services import api_key_create, api_key_hash, api_key_rotate
from providers.selectors import provider_key_status

DEV_KEY_NAME = "development"


def dev_key_path() -> Path:
    return Path(settings.VAR_DIR) / "dev-api-key"


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class Command(BaseCommand):
    help = (
        "Development mode only: make sure an API key named 'development' exists and print it with a "
        "curl example. Does nothing in production mode."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Give the development key a new secret (the old one stops working).",
        )

    def handle(self, *args, rotate=False, **options):
        if not settings.DEVELOPMENT_MODE:
            self.stdout.write("Production mode: no development API key is created.")
            return
        path = dev_key_path()
        api_key = ApiKey.objects.filter(name=DEV_KEY_NAME).first()
        if api_key is None:
            api_key, secret = api_key_create(name=DEV_KEY_NAME, scopes=[ApiKeyScope.ANALYTICS])
            _write_secret(path, secret)
            self._show(secret, headline=f"Created the development API key (saved in {path}):")
            return
        if rotate:
            secret = api_key_rotate(api_key=api_key)
            _write_secret(path, secret)
            self._show(secret, headline=f"Gave the development API key a new secret (saved in {path}):")
            return
        secret = _read_secret(path)
        if secret is None or api_key_hash(secret) != api_key.secret_sha256:
            self.stdout.write(
                f"The development API key exists, but its secret is not in {path} and cannot be shown "
                "again: only its hash is stored.\n"
                "  New secret for it:  .venv/bin/python manage.py ensure_dev_key --rotate\n"
                "  Or another key:     .venv/bin/python manage.py create_api_key --name NAME"
            )
            return
        if not api_key.active:
            self.stdout.write("The development API key is revoked: re-activate it in the admin to use it.")
            return
        self._show(secret, headline=f"Development API key (from {path}):")

    def _show(self, secret: str, *, headline: str) -> None:
        port = settings.AI_PROVIDER_PORT
        auth = f'-H "Authorization: Bearer {secret}"'
        self.stdout.write(headline)
        self.stdout.write(f"  {secret}")
        if any(p.configured for p in provider_key_status()):
            self.stdout.write("Try it:")
            self.stdout.write(
                f"  curl {auth} -H 'Content-Type: application/json' "
                f"localhost:{port}/api/v1/completion "
                '-d \'{"messages":[{"role":"user","content":"Hello"}]}\''
            )
            return
        # No provider can answer a completion yet: show a request that works now.
        self.stdout.write(
            "Try it (the catalogue; completions need a provider key first, or `make demo`):"
        )
        self.stdout.write(f"  curl {auth} localhost:{port}/api/v1/models")
