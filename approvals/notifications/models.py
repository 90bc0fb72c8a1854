from django.conf import settings
from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Waiting to retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class WebhookEndpoint(models.Model):
    """Where a tenant wants events posted, signed with its secret."""

    tenant = models.ForeignKey("approvals.Tenant", on_delete=models.CASCADE,
                               related_name="webhooks")
    url = models.URLField(max_length=500)
    # Needed in clear to sign each delivery (HMAC); shown to the admin once, at creation.
    secret = models.CharField(max_length=64)
    event_types = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class OutboxMessage(models.Model):
    """One notification to one recipient on one channel, written in the same transaction as the
    change it tells about. `key` makes it unique, so nothing is queued (or sent) twice."""

    key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    kind = models.CharField(max_length=40)
    recipient = models.CharField(max_length=254)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    tenant = models.ForeignKey("approvals.Tenant", null=True, blank=True,
                               on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey("approvals.AccessRequest", null=True, blank=True,
                                on_delete=models.CASCADE, related_name="outbox")
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="messages")
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["request", "recipient"], name="outbox_request_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.status})"


class DeliveryAttempt(models.Model):
    """Each try at delivering a message: what the receiver (or the mail server) answered."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE,
                                related_name="attempt_log")
    at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failed'} at {self.at:%Y-%m-%d %H:%M:%S}"
