from django.conf import settings
from django.db import models


class Scope(models.TextChoices):
    ACCESS_CHECK = "access:check", "Ask whether an engineer may access a resource"
    ACTIVITY_WRITE = "activity:write", "Report engineers' actions"
    REQUESTS_READ = "requests:read", "Read requests"
    REQUESTS_WRITE = "requests:write", "Create and cancel requests"
    TENANT_READ = "tenant:read", "Read the tenant's requests, settings and audit log"
    TENANT_DECIDE = "tenant:decide", "Approve, dismiss and revoke; change settings"


class ApiToken(models.Model):
    """A bearer token for automation. It acts as the person who created it, limited to its
    scopes (and, for a tenant token, to its tenant); only a hash of it is stored."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="api_tokens")
    tenant = models.ForeignKey("approvals.Tenant", null=True, blank=True,
                               on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def audit_label(self) -> dict[str, str]:
        return {"token": self.prefix, "token_name": self.name, "token_owner": self.owner.email}


class IdempotentResponse(models.Model):
    """The first answer to a POST with an Idempotency-Key, replayed for the same key."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"],
                                               name="idempotency_key_per_token")]

    def __str__(self) -> str:
        return self.key
