from celery import shared_task

from approvals import sweep as sweeping


@shared_task(name="approvals.tasks.sweep")
def sweep() -> str:
    return str(sweeping.sweep())


@shared_task(name="approvals.tasks.recheck_domains")
def recheck_domains() -> dict[str, int]:
    """Verified e-mail domains not checked for a day, a bounded batch per run."""
    from approvals import domains

    return domains.recheck_due()
