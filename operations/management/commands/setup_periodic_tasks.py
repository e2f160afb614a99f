"""Create or update every periodic task (django-celery-beat rows) from operations.schedules."""

from django.core.management.base import BaseCommand

from operations.schedules import periodic_tasks_setup


class Command(BaseCommand):
    help = (
        "Declare the project's periodic tasks in django-celery-beat. Idempotent: missing tasks are "
        "created, existing ones keep the schedule an operator set in the admin."
    )

    def handle(self, *args, **options):
        report = periodic_tasks_setup()
        for label, names in (("created", report.created), ("updated", report.updated)):
            for name in names:
                self.stdout.write(f"{label} {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"periodic tasks: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.unchanged)} unchanged"
            )
        )
