"""Catalogue writes (admin, sync_providers, shell) make every worker reload its snapshot."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from providers.catalogue import catalogue_bump_version
from providers.models import Provider, ProviderModel


@receiver([post_save, post_delete], sender=Provider)
@receiver([post_save, post_delete], sender=ProviderModel)
def catalogue_changed(sender, **kwargs) -> None:
    transaction.on_commit(catalogue_bump_version)
