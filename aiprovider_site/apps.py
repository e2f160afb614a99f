"""The site's app: wires the settings into the Django-free core at start-up."""

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed


class SiteConfig(AppConfig):
    name = "aiprovider_site"
    verbose_name = "AI Provider Service"

    def ready(self) -> None:
        from core.shared_state import shared_state_configure

        shared_state_configure(redis_url=settings.REDIS_URL)
        setting_changed.connect(_follow_redis_url, dispatch_uid="aiprovider_site.shared_state")


def _follow_redis_url(*, setting: str, value, **kwargs) -> None:
    """Tests (and `override_settings`) change REDIS_URL at run time: the store follows."""
    if setting == "REDIS_URL":
        from core.shared_state import shared_state_configure

        shared_state_configure(redis_url=value or "")
