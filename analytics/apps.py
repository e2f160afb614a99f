from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from access.limits import access_spend_source_register
        from analytics.usage_costs import usage_spend_for_key

        # A key's month of spend is rebuilt from its usage records when shared state lost it.
        access_spend_source_register(usage_spend_for_key)
