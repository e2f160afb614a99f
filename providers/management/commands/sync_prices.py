from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from providers.price_sources import installed_source, source_from_path
from providers.services import prices_sync


class Command(BaseCommand):
    help = (
        "Re-price every catalogue model from genai-prices' data: the installed package (upgrade it with "
        "pip first to get newer prices) or a data file given with --data. Never uses the network. "
        "What changed is printed and kept in the admin (Providers > Price syncs)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            help="genai-prices data to use instead of the installed package: its published data.json, a "
            "package's data.py, an unpacked genai_prices package directory, or a genai_prices wheel.",
        )
        parser.add_argument("--catalogue", help="Catalogue file (default: settings.PROVIDER_CATALOGUE_PATH).")
        parser.add_argument(
            "--force", action="store_true", help="Overwrite prices an operator changed in the admin."
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; write nothing.")

    def handle(self, *args, data=None, catalogue=None, force=False, dry_run=False, **options):
        try:
            source = source_from_path(data) if data else installed_source()
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        report = prices_sync(
            source=source, force=force, catalogue_path=Path(catalogue) if catalogue else None, dry_run=dry_run
        )
        prefix = "would change" if dry_run else "changed"
        self.stdout.write(
            f"prices from {report.price_source}: {len(report.price_changes)} model(s) {prefix}, "
            f"{len(report.unknown)} not priced"
        )
        for label, changes in report.price_changes.items():
            self.stdout.write(f"  {label}:")
            for line, (old, new) in changes.items():
                before, after = ("-" if v is None else v for v in (old, new))
                self.stdout.write(f"    {line}: {before} -> {after}")
        for label in report.kept:
            self.stdout.write(f"  kept operator price: {label} (use --force to overwrite)")
        for label in report.unknown:
            self.stdout.write(self.style.WARNING(f"  not priced (costs are recorded as 0): {label}"))
