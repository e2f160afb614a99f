from celery import shared_task

from analytics.services import usage_flush


@shared_task(name="analytics.usage_flush", ignore_result=True)
def usage_flush_task() -> int:
    return usage_flush()
