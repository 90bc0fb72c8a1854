from typing import Any, NoReturn

from django.db import models

from audit.encoding import format_time


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses bulk changes from the ORM; PostgreSQL triggers refuse them in the database too."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only; they cannot be updated.")

    def delete(self) -> NoReturn:
        raise TypeError("Audit events are append-only; they cannot be deleted.")


class AuditEvent(models.Model):
    """One entry of a hash chain. Written only by audit.services.record_event."""

    chain = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    action = models.CharField(max_length=64)
    # The real person who acted (None for the system itself). The e-mail is copied so the event
    # still names them after their account changes.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    request_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # `data` in the canonical encoding, exactly as its hash took it (audit.encoding). Verifying
    # and exporting then hash and write these bytes instead of re-encoding every event's JSON;
    # verification checks that `data` still says the same. Empty on events written before it
    # existed (NULL, not "": no event's canonical data is empty): those are re-encoded from
    # `data`, as before.
    canonical_data = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["chain", "occurred_at"], name="audit_chain_time_idx"),
            models.Index(fields=["request_id"], name="audit_request_idx"),
            # Keyset pages of one chain, newest first.
            models.Index(fields=["chain", "id"], name="audit_chain_id_idx"),
            # "What happened" filters, newest first, in one chain or across all; and the list
            # of actions a chain holds, read by skipping through these (audit.selectors).
            models.Index(fields=["chain", "action", "id"], name="audit_chain_action_idx"),
            models.Index(fields=["action", "id"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.chain} #{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError("Audit events are append-only; they cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("Audit events are append-only; they cannot be deleted.")


class ChainHead(models.Model):
    """The newest event of each chain. Its row lock serialises appends to one chain."""

    chain = models.CharField(max_length=80, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.seq}"


class SigningKey(models.Model):
    """Every public key that has signed anything, so old signatures stay verifiable."""

    key_id = models.CharField(max_length=16, primary_key=True)
    public_key = models.CharField(max_length=64, help_text="Base64 of the raw 32-byte key.")
    first_used_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["first_used_at"]

    def __str__(self) -> str:
        return self.key_id


class Checkpoint(models.Model):
    """A signed statement of a chain's head: "chain C had N events, the last hashing to H, at T".

    A customer who keeps one can later prove that nothing up to N changed, and that the chain
    was not cut short."""

    chain = models.CharField(max_length=80)
    seq = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=100)
    # The seq of the chain's checkpoint before this one (0 for its first), signed with it, so a
    # deleted stretch of checkpoints shows. None on checkpoints signed before links existed.
    prev_seq = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["chain", "seq"]
        constraints = [models.UniqueConstraint(fields=["chain", "seq"],
                                               name="checkpoint_chain_seq_unique")]

    def __str__(self) -> str:
        return f"{self.chain} @ {self.seq}"

    def signed_at_text(self) -> str:
        return format_time(self.signed_at)


class ChainVerification(models.Model):
    """The last full verification of a chain: pages show it, then verify only what is newer."""

    chain = models.CharField(max_length=80, primary_key=True)
    ok = models.BooleanField()
    verified_seq = models.PositiveBigIntegerField(default=0)
    verified_hash = models.CharField(max_length=64)
    hash_before = models.CharField(max_length=64, blank=True)
    first_bad_seq = models.PositiveBigIntegerField(null=True, blank=True)
    problem = models.TextField(blank=True)
    verified_at = models.DateTimeField(help_text="When events up to verified_seq were checked.")
    full_verified_at = models.DateTimeField(help_text="When the whole chain was last checked.")

    def __str__(self) -> str:
        return f"{self.chain}: {'ok' if self.ok else 'broken'} to {self.verified_seq}"


class Archive(models.Model):
    """A stretch of a chain written to a signed file (JSON Lines + manifest) before its events
    leave the database (audit.archives). Its manifest signature is what verification trusts
    for the events below the chain's ArchiveMark, once they are deleted.

    Append-only, except deleted_at, set once when every event it covers is gone (trigger-guarded
    on PostgreSQL, migration 0012)."""

    chain = models.CharField(max_length=80)
    first_seq = models.PositiveBigIntegerField()
    last_seq = models.PositiveBigIntegerField()
    count = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64, help_text="The hash of event first_seq - 1 "
                                 "(the previous archive's head, or genesis).")
    head_hash = models.CharField(max_length=64, help_text="The hash of event last_seq.")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the JSON Lines file.")
    prev_sha256 = models.CharField(max_length=64, blank=True,
                                   help_text="The previous archive's file hash (none first).")
    file_name = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=100)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["chain", "first_seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "first_seq"],
                                    name="archive_chain_first_unique"),
            models.UniqueConstraint(fields=["chain", "last_seq"],
                                    name="archive_chain_last_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.chain} {self.first_seq}-{self.last_seq}"

    def created_at_text(self) -> str:
        return format_time(self.created_at)


class ArchiveMark(models.Model):
    """How far a chain is archived: events at or below through_seq may be deleted, and no others.

    It only moves forward, to the last_seq of an archive that starts right after it, in the same
    transaction that records that archive (trigger-guarded on PostgreSQL, migration 0012)."""

    chain = models.CharField(max_length=80, primary_key=True)
    through_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.chain} archived through {self.through_seq}"
