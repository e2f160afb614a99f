"""Any change to an API key reaches the authentication cache of every worker."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from access.key_cache import key_cache
from access.models import ApiKey


@receiver(post_save, sender=ApiKey, dispatch_uid="access.api_key_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="access.api_key_deleted")
def api_key_changed(sender, **kwargs) -> None:
    # Now, so this process never serves the old row again; and after commit, so no worker reloads
    # the row before the change is visible to it.
    key_cache.clear()
    transaction.on_commit(key_cache.bump_version)
