"""E-mail domains a tenant proves it owns, with a DNS TXT record.

A tenant admin claims a domain; Lockbox gives the record to publish
(`_lockbox-challenge.<domain>  TXT  "lockbox-domain-verification=<token>"`, the token made for
that claim alone); a check finds it and the domain is verified. A verified domain belongs to
that tenant alone: the database holds one verified row per domain (DomainClaim's
`domain_verified_once`), so no race lets two tenants verify one domain, and a tenant cannot
claim what another has verified. Verified domains are checked again daily (recheck_due); one
whose record has been gone for LAPSE_AFTER stops being verified, so a domain that changes hands
does not stay with its old owner. Every change is an audit event of the tenant's chain, written
in the transaction that makes it.

DNS is asked before the row is locked (a lookup may take seconds), then the outcome is written
under the lock.
"""

from __future__ import annotations

import enum
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from approvals import roles as role_checks
from approvals.actions import Action
from approvals.models import DomainClaim, Tenant
from approvals.sso_requirement import release_requirement
from audit.services import record_event
from lockbox_portal import clock
from lockbox_portal.dns import DNSUnavailable, txt_values

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.contrib.auth.models import User

RECORD_LABEL = "_lockbox-challenge"
VALUE_PREFIX = "lockbox-domain-verification="
MAX_DOMAINS = 50
# A verified domain's record may go missing for this long (a DNS move, a mistake) before the
# domain stops being verified; a check that could not ask DNS never counts as missing.
LAPSE_AFTER = timedelta(days=7)
RECHECK_EVERY = timedelta(days=1)
RECHECK_BATCH = 100
# The record's name must itself be a DNS name of at most 253 characters.
MAX_LENGTH = 253 - len(RECORD_LABEL) - 1

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TAKEN = ("Another organisation has already verified this domain in Lockbox. If it is yours, "
         "ask your provider's support.")


class Outcome(enum.Enum):
    VERIFIED = "verified"            # verified by this check
    STILL_VERIFIED = "still"         # was verified, the record is still there
    NOT_FOUND = "not_found"          # no record with this claim's value
    MISSING = "missing"              # verified, the record is gone (not yet for LAPSE_AFTER)
    LAPSED = "lapsed"                # verified, the record gone for LAPSE_AFTER: no longer
    UNAVAILABLE = "unavailable"      # DNS could not be asked; nothing changed but the note
    TAKEN = "taken"                  # another tenant holds the domain verified


def normalize(text: str) -> str:
    """The domain as stored: lower case, ASCII (xn-- for international names), no trailing
    dot. People paste "@example.com" or "Example.COM."; both are example.com."""
    value = (text or "").strip().lower().removeprefix("@").rstrip(".")
    problem = ValidationError({"domain": "Enter a domain name such as example.com (no "
                                         "address, no https://, no spaces)."})
    if not value or len(value) > 2 * MAX_LENGTH:
        raise problem
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise problem from None
    labels = value.split(".")
    if (len(labels) < 2 or not all(_LABEL.match(label) for label in labels)
            or not re.search(r"[a-z]", labels[-1])):
        raise problem
    if len(value) > MAX_LENGTH:
        raise ValidationError({"domain": f"A domain of at most {MAX_LENGTH} characters."})
    return value


def record_name(claim: DomainClaim) -> str:
    return f"{RECORD_LABEL}.{claim.domain}"


def record_value(claim: DomainClaim) -> str:
    return f"{VALUE_PREFIX}{claim.token}"


def _taken(domain: str, tenant: Tenant) -> bool:
    return DomainClaim.objects.filter(domain=domain, verified_at__isnull=False).exclude(
        tenant=tenant).exists()


def claim_domain(*, tenant: Tenant, actor: User, domain: str,
                 now: datetime | None = None) -> DomainClaim:
    """A tenant admin claims a domain; it is not verified until check_domain finds the record."""
    role_checks.require_tenant_admin(actor, tenant)
    domain = normalize(domain)
    now = now or clock.now()
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if DomainClaim.objects.filter(tenant=locked, domain=domain).exists():
            raise ValidationError({"domain": f"{domain} is already on this list."})
        if DomainClaim.objects.filter(tenant=locked).count() >= MAX_DOMAINS:
            raise ValidationError({"domain": f"A tenant can claim at most {MAX_DOMAINS} "
                                             "domains; remove one first."})
        if _taken(domain, locked):
            raise ValidationError({"domain": TAKEN})
        claim = DomainClaim.objects.create(tenant=locked, domain=domain, created_at=now,
                                           token=secrets.token_urlsafe(32))
        record_event(chain=locked.audit_chain, action=Action.DOMAIN_CLAIMED, actor=actor,
                     now=now, data={"domain": domain, "record": record_name(claim)})
    return claim


def check_domain(*, claim: DomainClaim, actor: User | None, now: datetime | None = None,
                 lookup: Callable[[str], set[str]] = txt_values) -> tuple[Outcome, str]:
    """Ask DNS for the claim's record and write what it found. Returns the outcome and a
    sentence for the person. `actor` None: the daily recheck."""
    if actor is not None:
        role_checks.require_tenant_admin(actor, claim.tenant)
    name = record_name(claim)
    try:
        found = record_value(claim) in lookup(name)
        problem = "" if found else f"No TXT record {name} with this domain's value was found."
    except DNSUnavailable as unavailable:
        found, problem = None, f"Could not check: {unavailable}"
    now = now or clock.now()
    try:
        with transaction.atomic():
            return _write_check(claim, actor, now, found, problem)
    except IntegrityError:
        # Another tenant's check verified the domain between our look and our write.
        DomainClaim.objects.filter(pk=claim.pk).update(last_checked_at=now, last_problem=TAKEN,
                                                       last_result="taken")
        return Outcome.TAKEN, TAKEN


def _write_check(claim: DomainClaim, actor: User | None, now: datetime, found: bool | None,
                 problem: str) -> tuple[Outcome, str]:
    locked = DomainClaim.objects.select_for_update().select_related("tenant").get(pk=claim.pk)
    locked.last_checked_at = now
    locked.last_problem = problem
    locked.last_result = {True: "found", False: "not_found", None: "unavailable"}[found]
    fields = ["last_checked_at", "last_problem", "last_result"]
    chain = locked.tenant.audit_chain
    if found:
        locked.last_seen_at = now
        fields.append("last_seen_at")
    if found is None:
        outcome = Outcome.UNAVAILABLE
    elif found and locked.is_verified:
        outcome = Outcome.STILL_VERIFIED
    elif found and _taken(locked.domain, locked.tenant):
        locked.last_problem, locked.last_result = TAKEN, "taken"
        outcome = Outcome.TAKEN
    elif found:
        locked.verified_at = now
        fields.append("verified_at")
        outcome = Outcome.VERIFIED
    elif not locked.is_verified:
        outcome = Outcome.NOT_FOUND
    elif (locked.last_seen_at or locked.verified_at or now) > now - LAPSE_AFTER:
        outcome = Outcome.MISSING
    else:
        locked.verified_at = None
        fields.append("verified_at")
        outcome = Outcome.LAPSED
    locked.save(update_fields=fields)  # the unique index may refuse a verification: see above
    if outcome is Outcome.VERIFIED:
        record_event(chain=chain, action=Action.DOMAIN_VERIFIED, actor=actor, now=now,
                     data={"domain": locked.domain, "record": record_name(locked)})
    elif outcome is Outcome.LAPSED:
        record_event(chain=chain, action=Action.DOMAIN_LAPSED, actor=actor, now=now, data={
            "domain": locked.domain, "record": record_name(locked),
            "last_seen": (locked.last_seen_at or now).isoformat()})
        _no_domain_left(locked.tenant, now)
    for field in fields:
        setattr(claim, field, getattr(locked, field))
    return outcome, _SAY[outcome].format(domain=locked.domain, problem=locked.last_problem,
                                        days=LAPSE_AFTER.days)


_SAY = {
    Outcome.VERIFIED: "{domain} is verified.",
    Outcome.STILL_VERIFIED: "{domain} is verified; its record is still there.",
    Outcome.NOT_FOUND: "{domain} is not verified yet. {problem} DNS changes can take a while "
                       "to reach everyone; check again later.",
    Outcome.MISSING: "{domain} is still verified, but its record is gone. Put it back: after "
                     "{days} days without it the domain stops being verified.",
    Outcome.LAPSED: "{domain} is no longer verified: its record has been gone for {days} days.",
    Outcome.UNAVAILABLE: "Nothing changed for {domain}. {problem}",
    Outcome.TAKEN: "{problem}",
}


def remove_domain(*, claim: DomainClaim, actor: User, now: datetime | None = None) -> None:
    role_checks.require_tenant_admin(actor, claim.tenant)
    now = now or clock.now()
    with transaction.atomic():
        locked = DomainClaim.objects.select_for_update().select_related("tenant").filter(
            pk=claim.pk).first()
        if locked is None:
            return
        record_event(chain=locked.tenant.audit_chain, action=Action.DOMAIN_REMOVED, actor=actor,
                     now=now, data={"domain": locked.domain, "was_verified": locked.is_verified})
        locked.delete()
        _no_domain_left(locked.tenant, now)


def _no_domain_left(tenant: Tenant, now: datetime) -> None:
    """A tenant that requires single sign-on but has no verified domain left could never sign
    anyone in again: the requirement ends (passwords work again), on the record."""
    if not DomainClaim.objects.filter(tenant=tenant, verified_at__isnull=False).exists():
        release_requirement(tenant=tenant, now=now,
                            reason="No verified domain is left, so no one could sign in.")


def recheck_due(*, now: datetime | None = None,
                lookup: Callable[[str], set[str]] = txt_values) -> dict[str, int]:
    """The daily check of verified domains (Celery beat, `lockbox_tick`): those not checked
    for RECHECK_EVERY, RECHECK_BATCH at a time, oldest check first. Returns outcome counts."""
    now = now or clock.now()
    due = list(DomainClaim.objects.filter(verified_at__isnull=False,
                                          last_checked_at__lt=now - RECHECK_EVERY)
               .select_related("tenant").order_by("last_checked_at")[:RECHECK_BATCH])
    counts: dict[str, int] = {}
    for claim in due:
        outcome, _ = check_domain(claim=claim, actor=None, now=now, lookup=lookup)
        counts[outcome.value] = counts.get(outcome.value, 0) + 1
    return counts
