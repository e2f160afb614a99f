"""The Celery app. With REDIS_URL, Redis is the broker; without it, tasks run in process."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiprovider_site.settings")

app = Celery("aiprovider")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
