from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from access import schema, signals  # noqa: F401  (registers receivers and the OpenAPI scheme)
