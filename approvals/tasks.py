from celery import shared_task

from approvals import sweep as sweeping


@shared_task(name="approvals.tasks.sweep")
def sweep() -> str:
    return str(sweeping.sweep())
