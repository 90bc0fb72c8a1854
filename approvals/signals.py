"""Taking a token or its owner away waits out the answers the data plane reuses
(approvals.access_cache), however it is done: through Lockbox, the admin or a shell.

These receivers hold no rule of their own: they only notice the changes that no Lockbox service
makes (a person switched off or deleted, a token or a provider role deleted) and ask for the
same wait the services ask for. A token stops with the role that let its owner make it
(tokens.role_problem), so a provider role deleted takes access away too.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model
from django.db.models.signals import post_delete, post_save, pre_save

from approvals.access_cache import access_taken_away
from approvals.api.models import ApiToken
from approvals.models import ProviderMembership

# Set on a user between pre_save and post_save when that save switches them off.
_SWITCHING_OFF = "_lockbox_switching_off"


def connect() -> None:
    user = get_user_model()
    pre_save.connect(_note_switch_off, sender=user, dispatch_uid="lockbox-access-owner-off-pre")
    post_save.connect(_owner_switched_off, sender=user, dispatch_uid="lockbox-access-owner-off")
    post_delete.connect(_gone, sender=user, dispatch_uid="lockbox-access-user")
    post_delete.connect(_gone, sender=ApiToken, dispatch_uid="lockbox-access-token")
    post_delete.connect(_gone, sender=ProviderMembership,
                        dispatch_uid="lockbox-access-provider-role")


def _note_switch_off(sender: type[Model], instance: Any, update_fields: Any = None,
                     using: str | None = None, **kwargs: Any) -> None:
    """Only a save that turns an active person inactive takes anything away: saving someone
    already switched off (a new name, a last login) must not wait. The stored row says which,
    and is read only when the saved value is inactive."""
    switching_off = (
        not instance.is_active and instance.pk is not None
        and (update_fields is None or "is_active" in update_fields)
        and sender._default_manager.using(using).filter(pk=instance.pk, is_active=True).exists())
    setattr(instance, _SWITCHING_OFF, switching_off)


def _owner_switched_off(sender: type[Model], instance: Any, **kwargs: Any) -> None:
    # After the row is written: outside a transaction the wait runs at once, and must follow it.
    if instance.__dict__.pop(_SWITCHING_OFF, False):
        access_taken_away()


def _gone(sender: type[Model], **kwargs: Any) -> None:
    access_taken_away()
