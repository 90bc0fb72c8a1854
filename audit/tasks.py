from datetime import timedelta

from celery import shared_task
from django.conf import settings

from audit.archives import archive_due
from audit.checkpoints import checkpoint_chains
from audit.owners import chains_to_verify
from audit.status import verify_and_record


@shared_task(name="audit.checkpoint")
def checkpoint() -> int:
    return len(checkpoint_chains())


@shared_task(name="audit.verify_all")
def verify_all() -> int:
    """Verify every chain in full and remember the result for the pages; returns how many are
    broken."""
    limit = settings.LOCKBOX_UNSIGNED_LIMIT_SECONDS
    unsigned_limit = timedelta(seconds=limit) if limit else None
    return sum(not verify_and_record(chain, must_exist=must_exist,
                                     unsigned_limit=unsigned_limit).ok
               for chain, must_exist in chains_to_verify())


@shared_task(name="audit.archive")
def archive() -> int:
    """Archive and delete events past their retention (audit.archives); returns archives made."""
    return archive_due().archives
