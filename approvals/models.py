import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from audit.encoding import tenant_chain


class Tenant(models.Model):
    # The slug names the tenant's audit chain, which is hashed into every event: it never changes.
    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    lockbox_enabled = models.BooleanField(
        default=True, help_text="When off, internal approval alone grants access (and says so)."
    )
    customer_approval_window = models.DurationField(default=timedelta(hours=12))
    max_access_duration = models.DurationField(default=timedelta(hours=4))
    required_approvals = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    notification_emails = models.JSONField(
        default=list, blank=True,
        help_text="Extra addresses told about requests, besides the approvers themselves.",
    )
    created_at = models.DateTimeField()
    # How long the tenant's audit events stay in the database before they leave as signed
    # archives (audit.archives); a legal hold suspends that while it is on.
    # Database defaults too: bulk loaders (bench_seed's COPY) name only the columns they know.
    audit_retention_years = models.PositiveSmallIntegerField(
        default=7, db_default=7, validators=[MinValueValidator(1), MaxValueValidator(10)])
    legal_hold = models.BooleanField(
        default=False, db_default=False,
        help_text="While on, no audit event of the tenant is archived or deleted.")
    # A hold the provider's auditors placed (their own legal reasons): only they lift it, so a
    # tenant admin clearing the tenant's own hold does not end it.
    provider_legal_hold = models.BooleanField(
        default=False, db_default=False,
        help_text="Placed by the provider's auditors; only they can lift it.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(required_approvals__gte=1, required_approvals__lte=10),
                name="tenant_required_approvals_range",
            ),
            models.CheckConstraint(
                condition=models.Q(audit_retention_years__gte=1, audit_retention_years__lte=10),
                name="tenant_audit_retention_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def on_legal_hold(self) -> bool:
        """Either party's hold suspends archiving."""
        return self.legal_hold or self.provider_legal_hold

    @property
    def audit_chain(self) -> str:
        return tenant_chain(self.slug)


class TenantRole(models.TextChoices):
    ADMIN = "admin", "Tenant admin"
    APPROVER = "approver", "Lockbox approver"
    COMPLIANCE_READER = "compliance_reader", "Compliance reader"


class TenantMembership(models.Model):
    """One role of one person in one tenant; a person holding two roles has two rows."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="tenant_memberships")
    role = models.CharField(max_length=32, choices=TenantRole.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "role"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user.email} — {self.get_role_display()} of {self.tenant}"


class ProviderRole(models.TextChoices):
    ENGINEER = "engineer", "Support engineer"
    INTERNAL_APPROVER = "internal_approver", "Internal approver"
    AUDITOR = "auditor", "Provider auditor"


class ProviderMembership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="provider_memberships")
    role = models.CharField(max_length=32, choices=ProviderRole.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="provider_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user.email} — {self.get_role_display()}"


class State(models.TextChoices):
    PENDING_INTERNAL = "pending_internal", "Waiting for internal approval"
    PENDING_CUSTOMER = "pending_customer", "Waiting for customer approval"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    REVOKED = "revoked", "Revoked"
    COMPLETED = "completed", "Completed"


PENDING_STATES = (State.PENDING_INTERNAL, State.PENDING_CUSTOMER)


class ReasonType(models.TextChoices):
    CUSTOMER_INITIATED_SUPPORT = "customer_initiated_support", "Customer-initiated support"
    PROVIDER_INITIATED_SERVICE = "provider_initiated_service", "Provider-initiated service"
    PROVIDER_INITIATED_REVIEW = "provider_initiated_review", "Provider-initiated review"
    THIRD_PARTY_DATA_REQUEST = "third_party_data_request", "Third-party data request"
    PRODUCTION_ALERT = "production_alert", "Production-alert response"


class AccessLevel(models.TextChoices):
    READ_ONLY = "read_only", "Read-only"
    READ_WRITE = "read_write", "Read and write"


class AccessRequest(models.Model):
    """An engineer's request for time-boxed access to a tenant's resources.

    Its state changes only in approvals.transitions. Whether access is active right now is
    decided from the timestamps (approvals.policy), not from `state` alone.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="access_requests")
    case_reference = models.CharField(max_length=64)
    justification = models.TextField()
    reason_type = models.CharField(max_length=40, choices=ReasonType.choices)
    scope = models.JSONField(help_text="Resource identifiers; 'prefix/*' covers what is below.")
    access_level = models.CharField(max_length=16, choices=AccessLevel.choices,
                                    default=AccessLevel.READ_ONLY)
    requested_duration = models.DurationField()
    touches_customer_content = models.BooleanField(default=True)
    state = models.CharField(max_length=20, choices=State.choices,
                             default=State.PENDING_INTERNAL)
    # Copied from the tenant's policy when the customer step starts, so a later policy change
    # does not move the goalposts of a request already in front of approvers.
    required_approvals = models.PositiveSmallIntegerField(null=True, blank=True)
    # Why the customer step was skipped, when it was ("lockbox_disabled", "no_customer_content").
    customer_step_skipped = models.CharField(max_length=32, blank=True)

    created_at = models.DateTimeField()
    internal_expires_at = models.DateTimeField()
    internal_decided_at = models.DateTimeField(null=True, blank=True)
    customer_expires_at = models.DateTimeField(null=True, blank=True)
    access_starts_at = models.DateTimeField(null=True, blank=True)
    access_ends_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True,
                                     help_text="When it reached a final state.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant", "state", "-created_at"],
                         name="request_tenant_state_idx"),
            models.Index(fields=["requester", "state"], name="request_requester_state_idx"),
            models.Index(fields=["state", "internal_expires_at"], name="request_internal_exp_idx"),
            models.Index(fields=["state", "customer_expires_at"], name="request_customer_exp_idx"),
            models.Index(fields=["state", "access_ends_at"], name="request_access_end_idx"),
            # The dashboard's lists of one tenant, in their order: waiting for the customer,
            # waiting for the provider, access open now.
            models.Index(fields=["tenant", "state", "customer_expires_at"],
                         name="request_tenant_customer_idx"),
            models.Index(fields=["tenant", "state", "internal_expires_at"],
                         name="request_tenant_internal_idx"),
            models.Index(fields=["tenant", "state", "access_ends_at"],
                         name="request_tenant_access_idx"),
            # A tenant's requests newest first, paged by key: the Google and Azure lists.
            models.Index(fields=["tenant", "-created_at", "-id"],
                         name="request_tenant_created_idx"),
            # The internal queue: waiting for a manager, every tenant, oldest first.
            models.Index(fields=["state", "created_at", "id"], name="request_state_created_idx"),
            # The access check's lookup: this engineer's approved grants in this tenant.
            models.Index(fields=["requester", "tenant", "access_ends_at"],
                         condition=models.Q(state="approved"), name="request_active_grant_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(requested_duration__gt=timedelta(0)),
                                   name="request_duration_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.case_reference} ({self.get_state_display()})"

    @property
    def reference(self) -> str:
        """A short id a person can read aloud; the full UUID stays the key."""
        return str(self.id)[:8].upper()


class DecisionLevel(models.TextChoices):
    INTERNAL = "internal", "Internal"
    CUSTOMER = "customer", "Customer"


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class Decision(models.Model):
    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="decisions")
    level = models.CharField(max_length=16, choices=DecisionLevel.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="decisions")
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField()
    # An approver may consent only until a moment (Google's `expireTime`): the grant then ends
    # no later, and an approval whose moment passed before the quorum was reached no longer
    # counts. Null: for as long as the request and the policy allow.
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["decided_at"]
        constraints = [
            # The same person deciding twice counts once: the second attempt is refused.
            models.UniqueConstraint(fields=["request", "level", "actor"],
                                    name="decision_one_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} {self.get_verdict_display()} by {self.actor}"


class Transition(models.Model):
    """The request's state history: one row per move, written with the move."""

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE,
                                related_name="transitions")
    from_state = models.CharField(max_length=20, choices=State.choices, blank=True)
    to_state = models.CharField(max_length=20, choices=State.choices)
    verb = models.CharField(max_length=32)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                              blank=True, related_name="+")
    at = models.DateTimeField()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '—'} → {self.to_state} ({self.verb})"


class RequestNote(models.Model):
    """A provider-internal note on a request: never shown on the customer portal."""

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note by {self.author} on {self.request.reference}"


class AttestationStatus(models.TextChoices):
    FILED = "filed", "Waiting for the customer"
    ACKNOWLEDGED = "acknowledged", "Acknowledged by the customer"
    DISPUTED = "disputed", "Disputed by the customer"
    RESOLVED = "resolved", "Dispute resolved"


class Attestation(models.Model):
    """The engineer's account of what they did, once access has ended, and the customer's
    answer to it. A dispute stays visible until a provider auditor resolves it."""

    request = models.OneToOneField(AccessRequest, on_delete=models.CASCADE,
                                   related_name="attestation")
    summary = models.TextField()
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="+")
    filed_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=AttestationStatus.choices,
                              default=AttestationStatus.FILED)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Attestation of {self.request.reference} ({self.get_status_display()})"


class DomainClaim(models.Model):
    """An e-mail domain a tenant says is its own, proved by a DNS TXT record that only whoever
    runs the domain's DNS can publish (approvals.domains). A domain may be claimed by several
    tenants while unproved, and verified by one tenant at most."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains")
    # Lower case, ASCII (an internationalised name in its xn-- form), no trailing dot.
    domain = models.CharField(max_length=253)
    # The value the TXT record must hold; public by design (it is published in DNS), and
    # different for every claim, so one tenant's record never proves another's claim.
    token = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # The last time the record was found: a verified domain whose record has been gone for
    # domains.LAPSE_AFTER stops being verified.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # What the last check found: "found", "not_found" (no record with this claim's value),
    # "unavailable" (DNS could not be asked) or "taken" (another tenant verified it); "" before
    # the first check. And what was wrong, in a sentence for the settings page.
    last_result = models.CharField(max_length=16, blank=True, default="")
    last_problem = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "domain"], name="domain_claim_unique"),
            # The guarantee that no tenant can capture another's people: whatever races, one
            # verified row per domain.
            models.UniqueConstraint(fields=["domain"],
                                    condition=models.Q(verified_at__isnull=False),
                                    name="domain_verified_once"),
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def record_missing(self) -> bool:
        """Verified, but the last check did not find the record (it lapses if it stays away)."""
        return self.is_verified and self.last_result == "not_found"


class SsoConnection(models.Model):
    """A tenant's own OpenID Connect identity provider (lockbox_portal.security.sso).

    Its people sign in there; the claim `role_claim` (groups or app roles) gives their roles
    here through the three value lists. It signs no one in until a test sign-in since the last
    change has shown the claims, and an admin has switched it on."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="sso")
    # allauth's name for this provider, in URLs and in its SocialAccount rows; never reused
    # (a new connection of the same tenant gets a new one), so one provider's `sub` values
    # cannot meet another's.
    provider_id = models.CharField(max_length=40, unique=True)
    issuer = models.URLField(max_length=500)
    client_id = models.CharField(max_length=255)
    # Encrypted with a key derived from SECRET_KEY (lockbox_portal.security.secrets); never
    # shown again once saved.
    client_secret = models.TextField()
    role_claim = models.CharField(max_length=32, default="groups")
    admin_values = models.JSONField(default=list, blank=True)
    approver_values = models.JSONField(default=list, blank=True)
    reader_values = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=False)
    # Required: passwords stop working for the tenant's members, and its pages open only to a
    # session signed in through this provider (approvals.sso.set_required).
    required = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    changed_at = models.DateTimeField()
    # The last test sign-in: when, and the claims it received (shown to the admin).
    tested_at = models.DateTimeField(null=True, blank=True)
    test_claims = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.tenant} → {self.issuer}"

    @property
    def tested_since_change(self) -> bool:
        return self.tested_at is not None and self.tested_at >= self.changed_at

