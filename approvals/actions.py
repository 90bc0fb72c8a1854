"""Every kind of audit event Lockbox writes, with the short label people read.

The value is the code stored in the audit log, in exports, in webhook `type` fields and in
receipts; it never changes once written. The label is what timelines, the audit "What" column and
filters show. Groups below (REQUEST_EVENTS, DECISIONS, ...) are the one place that says which
actions a webhook, a receipt or a notification is about.
"""

from django.db import models


class Action(models.TextChoices):
    # A request's lifecycle (approvals.transitions writes these)
    REQUEST_SUBMITTED = "request.submitted", "Request made"
    REQUEST_INTERNAL_APPROVED = "request.internal_approved", "Provider approved"
    REQUEST_INTERNAL_REJECTED = "request.internal_rejected", "Provider rejected"
    REQUEST_CUSTOMER_APPROVED = "request.customer_approved", "Approved (more needed)"
    REQUEST_APPROVED = "request.approved", "Access granted"
    REQUEST_CUSTOMER_REJECTED = "request.customer_rejected", "Rejected"
    REQUEST_CANCELLED = "request.cancelled", "Cancelled"
    REQUEST_EXPIRED = "request.expired", "Expired"
    REQUEST_REVOKED = "request.revoked", "Access revoked"
    REQUEST_RELEASED = "request.released", "Access given back"
    REQUEST_COMPLETED = "request.completed", "Access time ran out"
    REQUEST_NOTE_ADDED = "request.note_added", "Internal note"
    # What engineers did with a grant (approvals.activity)
    ACTIVITY_RECORDED = "activity.recorded", "Engineer action"
    ACTIVITY_OUT_OF_SCOPE = "activity.out_of_scope", "Action outside any grant"
    # The customer's review of what was done (approvals.attestations)
    ATTESTATION_FILED = "attestation.filed", "Close-out report filed"
    ATTESTATION_ACKNOWLEDGED = "attestation.acknowledged", "Close-out acknowledged"
    ATTESTATION_DISPUTED = "attestation.disputed", "Close-out disputed"
    ATTESTATION_RESOLVED = "attestation.resolved", "Close-out dispute resolved"
    # Tenants and the people in them (approvals.tenants)
    TENANT_CREATED = "tenant.created", "Tenant created"
    TENANT_POLICY_CHANGED = "tenant.policy_changed", "Policy changed"
    TENANT_NOTIFICATIONS_CHANGED = "tenant.notifications_changed", "Notification addresses changed"
    MEMBERSHIP_GRANTED = "membership.granted", "Role given"
    MEMBERSHIP_INVITED = "membership.invited", "Person invited"
    MEMBERSHIP_REFUSED = "membership.refused", "Customer roles refused to provider staff"
    MEMBERSHIP_CHANGED = "membership.changed", "Roles changed"
    MEMBERSHIP_REMOVED = "membership.removed", "Person removed"
    PROVIDER_ROLE_GRANTED = "provider_role.granted", "Provider role given"
    PROVIDER_ROLE_REMOVED = "provider_role.removed", "Provider role taken away"
    TENANT_RETENTION_CHANGED = "tenant.retention_changed", "Audit retention changed"
    TENANT_LEGAL_HOLD_CHANGED = "tenant.legal_hold_changed", "Legal hold changed"
    # E-mail domains a tenant proves are its own (approvals.domains)
    DOMAIN_CLAIMED = "domain.claimed", "Domain added"
    DOMAIN_VERIFIED = "domain.verified", "Domain verified"
    DOMAIN_LAPSED = "domain.lapsed", "Domain no longer verified"
    DOMAIN_REMOVED = "domain.removed", "Domain removed"
    # The tenant's own identity provider (approvals.sso)
    SSO_CONFIGURED = "sso.configured", "Single sign-on settings changed"
    SSO_TESTED = "sso.tested", "Single sign-on tested"
    SSO_ENABLED = "sso.enabled", "Single sign-on switched on"
    SSO_DISABLED = "sso.disabled", "Single sign-on switched off"
    SSO_REMOVED = "sso.removed", "Single sign-on removed"
    SSO_REQUIRED = "sso.required", "Single sign-on required"
    SSO_NOT_REQUIRED = "sso.not_required", "Single sign-on no longer required"
    # History leaving the database as signed archives (audit.archives writes these)
    AUDIT_ARCHIVED = "audit.archived", "Audit events archived"
    AUDIT_ARCHIVE_DELETED = "audit.archive_deleted", "Archived events deleted"
    # Machine access and integrations
    TOKEN_CREATED = "token.created", "API token made"
    TOKEN_REVOKED = "token.revoked", "API token revoked"
    WEBHOOK_CREATED = "webhook.created", "Webhook added"
    WEBHOOK_ENABLED = "webhook.enabled", "Webhook switched on"
    WEBHOOK_DISABLED = "webhook.disabled", "Webhook switched off"
    WEBHOOK_DELETED = "webhook.deleted", "Webhook deleted"
    # A person's own sign-in factors (lockbox_portal.security)
    ACCOUNT_MFA_ENROLLED = "account.mfa_enrolled", "Second factor set up"
    ACCOUNT_MFA_REPLACED = "account.mfa_replaced", "Authenticator replaced"
    ACCOUNT_BACKUP_CODES_RENEWED = "account.backup_codes_renewed", "Backup codes renewed"
    ACCOUNT_PASSKEY_ADDED = "account.passkey_added", "Passkey added"
    ACCOUNT_PASSKEY_REMOVED = "account.passkey_removed", "Passkey removed"


# The request events a tenant's webhooks may subscribe to, in lifecycle order.
REQUEST_EVENTS: tuple[Action, ...] = (
    Action.REQUEST_SUBMITTED, Action.REQUEST_INTERNAL_APPROVED, Action.REQUEST_INTERNAL_REJECTED,
    Action.REQUEST_CUSTOMER_APPROVED, Action.REQUEST_APPROVED, Action.REQUEST_CUSTOMER_REJECTED,
    Action.REQUEST_CANCELLED, Action.REQUEST_EXPIRED, Action.REQUEST_REVOKED,
    Action.REQUEST_RELEASED, Action.REQUEST_COMPLETED,
)

# A customer approver's decision; each has a signed receipt.
DECISIONS: tuple[Action, ...] = (
    Action.REQUEST_CUSTOMER_APPROVED, Action.REQUEST_APPROVED, Action.REQUEST_CUSTOMER_REJECTED,
)

# Access that was running and has ended by itself or by the engineer.
ACCESS_ENDINGS: tuple[Action, ...] = (Action.REQUEST_RELEASED, Action.REQUEST_COMPLETED)

# What an engineer did with access, in scope or not.
ACTIVITY: tuple[Action, ...] = (Action.ACTIVITY_RECORDED, Action.ACTIVITY_OUT_OF_SCOPE)

# The test delivery a tenant admin sends to a webhook; a webhook type, never an audit event.
WEBHOOK_TEST = "webhook.test"


def label(action: str) -> str:
    """The label people read for an audit code; an unknown code is shown as it is."""
    try:
        return str(Action(action).label)
    except ValueError:
        return action
