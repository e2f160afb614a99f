from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from operations.figures import provider_figures
        from providers.admin_live import provider_figures_source_register

        # The provider admin shows live figures it cannot compute: providers imports nothing above it.
        provider_figures_source_register(provider_figures)
