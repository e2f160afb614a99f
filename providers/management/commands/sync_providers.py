from django.core.management.base import BaseCommand, CommandError

from providers.services import CatalogueError, catalogue_sync


class Command(BaseCommand):
    help = "Load config/ai-provider/ai-provider.yml into the provider catalogue (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--file", help="Catalogue file (default: settings.PROVIDER_CATALOGUE_PATH).")
        parser.add_argument(
            "--force", action="store_true", help="Overwrite fields an operator changed in the admin."
        )

    def handle(self, *args, file=None, force=False, **options):
        try:
            report = catalogue_sync(path=file, force=force)
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"providers synced: {len(report.created)} created, {len(report.updated)} updated, "
            f"{report.unchanged} unchanged"
        )
        for label in report.kept:
            self.stdout.write(f"  kept operator change: {label} (use --force to overwrite)")
        for label in report.price_changes:
            self.stdout.write(f"  prices changed: {label} (from {report.price_source})")
        for label in report.unknown:
            self.stdout.write(self.style.WARNING(f"  not priced (costs are recorded as 0): {label}"))
