from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from access.services import api_key_create


class Command(BaseCommand):
    help = "Create a client API key and print its secret once."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--rpm", type=int, help="Requests per minute.")
        parser.add_argument("--tpm", type=int, help="Tokens per minute.")
        parser.add_argument("--budget", help="Monthly budget in USD.")
        parser.add_argument("--models", help="Comma-separated model names this key may use.")
        parser.add_argument(
            "--scopes", help="Comma-separated extra permissions, e.g. 'analytics' (analytics and metrics)."
        )

    def handle(self, *args, name, rpm=None, tpm=None, budget=None, models=None, scopes=None, **options):
        try:
            budget_usd = Decimal(budget) if budget is not None else None
        except InvalidOperation as exc:
            raise CommandError(f"--budget must be a number of USD, got {budget!r}") from exc
        allowed = [m.strip() for m in models.split(",") if m.strip()] if models else []
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()] if scopes else []
        try:
            api_key, secret = api_key_create(
                name=name, rpm_limit=rpm, tpm_limit=tpm, monthly_budget_usd=budget_usd,
                allowed_models=allowed, scopes=scope_list,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"API key {api_key.name!r} created. Its secret, shown this once:")
        self.stdout.write(secret)
