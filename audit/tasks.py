from celery import shared_task

from audit.checkpoints import checkpoint_chains


@shared_task(name="audit.checkpoint")
def checkpoint():
    return len(checkpoint_chains())
