"""Demo data for `make run`: two tenants, the provider's staff, and requests in every state.

Everything is created through the services (transitions, record_event) with the clock moved
back, so the demo's history is a real one and its audit chains verify. The devtools app that
holds it is installed only by the local and test settings: the accounts share a published
password.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from approvals import activity, attestations
from approvals import transitions as t
from approvals.models import ProviderRole, ReasonType, Tenant, TenantRole
from approvals.sweep import sweep
from approvals.tenants import add_provider_role, add_tenant_member, create_tenant
from audit.checkpoints import checkpoint_chains

DEMO_PASSWORD = "lockbox-demo-password"  # noqa: S105 (only ever loaded with DEBUG on)
TENANTS = {
    "contoso": ("Contoso Ltd", 2),
    "fabrikam": ("Fabrikam Inc", 1),
}
PROVIDER = {
    "engineer1@provider.example": ("Erin", "Engineer", ProviderRole.ENGINEER),
    "engineer2@provider.example": ("Eli", "Engineer", ProviderRole.ENGINEER),
    "manager1@provider.example": ("Maya", "Manager", ProviderRole.INTERNAL_APPROVER),
    "manager2@provider.example": ("Mo", "Manager", ProviderRole.INTERNAL_APPROVER),
    "auditor@provider.example": ("Avery", "Auditor", ProviderRole.AUDITOR),
}
CUSTOMER_PEOPLE = {
    # The admin also approves, so it can make an API token that decides (tokens act as their
    # maker); see README, "APIs".
    "admin": ("Admin", (TenantRole.ADMIN, TenantRole.APPROVER)),
    "approver1": ("First approver", (TenantRole.APPROVER,)),
    "approver2": ("Second approver", (TenantRole.APPROVER,)),
    "compliance": ("Compliance reader", (TenantRole.COMPLIANCE_READER,)),
}
ADMIN_EMAIL = "auditor@provider.example"
BACKUP_CODES = 10

# One step of the demo's history, run at the time it is given.
Step = Callable[[datetime], object]


def demo_exists() -> bool:
    return Tenant.objects.filter(slug__in=TENANTS).exists()


def load_demo(*, now: datetime) -> bool:
    """Create the demo once. Returns False (and changes nothing) when it is already there."""
    if demo_exists():
        return False
    with transaction.atomic():
        people = _people(now - timedelta(days=30))
        for step_at, step in sorted(_story(people, now), key=lambda s: s[0]):
            step(step_at)
        checkpoint_chains(now=now)
    return True


def backup_codes() -> list[str]:
    """The admin's unused one-time codes, topped up so the demo can always be signed in to."""
    user = get_user_model().objects.get(email=ADMIN_EMAIL)
    device, _ = StaticDevice.objects.get_or_create(user=user, name="Demo backup codes")
    missing = BACKUP_CODES - device.token_set.count()
    for _ in range(max(0, missing)):
        device.token_set.create(token=StaticToken.random_token())
    return list(device.token_set.values_list("token", flat=True))


def _people(at: datetime) -> dict[str, Any]:
    User = get_user_model()

    def person(email, first, last):
        user = User.objects.create_user(username=email, email=email, password=DEMO_PASSWORD,
                                        first_name=first, last_name=last)
        # An authenticator already set up, so the demo needs no phone: `manage.py demo_code`
        # prints its current code.
        TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
        return user

    people: dict[str, Any] = {}
    for email, (first, last, provider_role) in PROVIDER.items():
        people[email] = person(email, first, last)
        add_provider_role(user=people[email], role=provider_role, now=at)
    for slug, (name, required) in TENANTS.items():
        tenant = create_tenant(slug=slug, name=name, required_approvals=required, now=at)
        people[slug] = tenant
        for local, (label, roles) in CUSTOMER_PEOPLE.items():
            email = f"{local}@{slug}.example"
            people[email] = person(email, name.split()[0], label)
            for role in roles:
                add_tenant_member(tenant=tenant, user=people[email], role=role, now=at)
    return people


def _story(p: dict[str, Any], now: datetime) -> list[tuple[datetime, Step]]:
    """(when, step) pairs; run in time order so each chain's events are in time order too."""
    made: dict[str, Any] = {}
    h, m, d = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
    eng1, eng2 = p["engineer1@provider.example"], p["engineer2@provider.example"]
    man1, man2 = p["manager1@provider.example"], p["manager2@provider.example"]

    def submit(key, tenant, engineer, case, why, scope, hours, level="read_only",
               reason=ReasonType.CUSTOMER_INITIATED_SUPPORT, content=True):
        def step(at):
            made[key] = t.submit_request(
                requester=engineer, tenant=p[tenant], case_reference=case, justification=why,
                reason_type=reason, scope=scope, access_level=level,
                requested_duration=timedelta(hours=hours), touches_customer_content=content,
                now=at)
        return step

    def act(verb, key, actor=None, comment=""):
        def step(at):
            kwargs = {"access_request": made[key], "now": at}
            if actor is not None:
                kwargs["actor"] = actor
            if comment:
                kwargs["comment"] = comment
            verb(**kwargs)
        return step

    c, f = "@contoso.example", "@fabrikam.example"
    steps = [
        # Contoso needs two customer approvals.
        (now - 4 * d, submit("c_done", "contoso", eng1, "CASE-40211",
                             "Calendar items vanish after migration; need to read the mailbox "
                             "folder metadata to find the faulty sync rule.",
                             ["exchange/mailbox/j.smith@contoso.example"], 2)),
        (now - 4 * d + 10 * m, act(t.internal_approve, "c_done", man1, "Case verified.")),
        (now - 4 * d + 40 * m, act(t.customer_approve, "c_done", p["approver1" + c])),
        (now - 4 * d + 55 * m, act(t.customer_approve, "c_done", p["approver2" + c],
                                   "Fine, read-only.")),
        (now - 3 * d, submit("c_revoked", "contoso", eng2, "CASE-40377",
                             "Customer reports corrupted SharePoint list; inspect list items.",
                             ["sharepoint/sites/finance/*"], 4, level="read_write")),
        (now - 3 * d + 5 * m, act(t.internal_approve, "c_revoked", man2)),
        (now - 3 * d + 30 * m, act(t.customer_approve, "c_revoked", p["approver1" + c])),
        (now - 3 * d + 35 * m, act(t.customer_approve, "c_revoked", p["approver2" + c])),
        (now - 3 * d + 95 * m, act(t.revoke, "c_revoked", p["approver1" + c],
                                   "Issue fixed on our side; access no longer needed.")),
        (now - 2 * d, submit("c_expired", "contoso", eng1, "CASE-40502",
                             "Slow search in the finance site; need to read the search index "
                             "configuration.", ["sharepoint/sites/finance/search-config"], 1)),
        (now - 2 * d + 20 * m, act(t.internal_approve, "c_expired", man1)),
        (now - 1 * d, submit("c_denied", "contoso", eng2, "CASE-40611",
                             "Proactive review of mailbox rules flagged by a security alert.",
                             ["exchange/mailbox/ceo@contoso.example"], 1,
                             reason=ReasonType.PROVIDER_INITIATED_REVIEW)),
        (now - 1 * d + 15 * m, act(t.internal_approve, "c_denied", man2)),
        (now - 1 * d + 2 * h, act(t.customer_reject, "c_denied", p["approver2" + c],
                                  "Not without talking to us first; call the service desk.")),
        (now - 5 * h, submit("c_cancelled", "contoso", eng1, "CASE-40720",
                             "Check OneDrive sharing links for a user.",
                             ["onedrive/users/k.lee@contoso.example"], 1)),
        (now - 4 * h, act(t.cancel, "c_cancelled", eng1, "Customer solved it themselves.")),
        (now - 3 * h, submit("c_partial", "contoso", eng2, "CASE-40733",
                             "Teams meeting recordings fail to upload for one team; need the "
                             "team's recording folder listing.",
                             ["teams/teams/sales-emea/recordings"], 2)),
        (now - 3 * h + 10 * m, act(t.internal_approve, "c_partial", man1)),
        (now - 2 * h, act(t.customer_approve, "c_partial", p["approver1" + c],
                          "OK from me; waiting for a second approver.")),
        (now - 2 * h, submit("c_active", "contoso", eng1, "CASE-40740",
                             "Mailbox quota miscalculated; read the mailbox statistics.",
                             ["exchange/mailbox/j.smith@contoso.example/statistics"], 3)),
        (now - 2 * h + 5 * m, act(t.internal_approve, "c_active", man2)),
        (now - 90 * m, act(t.customer_approve, "c_active", p["approver1" + c])),
        (now - 85 * m, act(t.customer_approve, "c_active", p["approver2" + c])),
        (now - 1 * h, submit("c_pending", "contoso", eng2, "CASE-40751",
                             "Restore of a deleted folder failed; need to read the recycle bin.",
                             ["sharepoint/sites/hr/recycle-bin"], 2)),
        # Fabrikam needs one customer approval.
        (now - 3 * d + 2 * h, submit("f_released", "fabrikam", eng2, "CASE-50102",
                                     "Export job stuck for one mailbox; read its export queue.",
                                     ["exchange/mailbox/ops@fabrikam.example"], 4)),
        (now - 3 * d + 130 * m, act(t.internal_approve, "f_released", man1)),
        (now - 3 * d + 3 * h, act(t.customer_approve, "f_released", p["approver1" + f])),
        (now - 3 * d + 4 * h, act(t.release, "f_released", eng2, "Found it; done.")),
        (now - 2 * d + 3 * h, submit("f_internal_denied", "fabrikam", eng1, "CASE-50140",
                                     "Curious about usage patterns.", ["exchange/*"], 4)),
        (now - 2 * d + 4 * h, act(t.internal_reject, "f_internal_denied", man2,
                                  "Scope far too broad and no customer case behind it.")),
        (now - 6 * h, submit("f_infra", "fabrikam", eng1, "INC-9913",
                             "Storage node alert; restart the tenant's indexing service. No "
                             "customer content is read.", ["infra/indexing/fabrikam"], 1,
                             reason=ReasonType.PRODUCTION_ALERT, content=False)),
        (now - 6 * h + 3 * m, act(t.internal_approve, "f_infra", man1)),
        (now - 20 * m, submit("f_pending_customer", "fabrikam", eng2, "CASE-50188",
                              "Customer asked us to check why a shared mailbox rejects mail.",
                              ["exchange/mailbox/support@fabrikam.example"], 1)),
        (now - 15 * m, act(t.internal_approve, "f_pending_customer", man2)),
    ]
    steps += _evidence(p, made, now)
    # What Celery beat does in production: a sweep every half hour of the demo's history.
    moment = now - 4 * d
    while moment <= now:
        steps.append((moment, lambda at: sweep(now=at)))
        moment += 30 * m
    return steps


def current_code(email: str) -> tuple[str, int]:
    """The demo authenticator's code right now, and how many seconds it stays valid."""
    device = TOTPDevice.objects.get(user__email=email, confirmed=True)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    left = device.step - int(time.time() - device.t0) % device.step
    return f"{totp.token():0{device.digits}d}", left


def _evidence(p: dict[str, Any], made: dict[str, Any],
              now: datetime) -> list[tuple[datetime, Step]]:
    """Close-out summaries (one acknowledged, one disputed) and actions the data plane
    reported, one of them outside the grant."""
    h, m, d = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)

    def summary(key, engineer, text):
        def step(at):
            attestations.file(access_request=made[key], actor=p[engineer], summary=text, now=at)
        return step

    def reply(key, person, acknowledge, comment=""):
        def step(at):
            attestations.answer(attestation=made[key].attestation, actor=p[person],
                                acknowledge=acknowledge, comment=comment, now=at)
        return step

    def report(key, engineer, actions):
        def step(at):
            req = made[key]
            activity.record_batch(
                tenant_slug=req.tenant.slug, engineer_email=engineer, now=at,
                actions=[{"resource": r, "operation": o, "at": (at - m).isoformat()}
                         for r, o in actions])
        return step

    return [
        (now - 4 * d + 2 * h, report("c_done", "engineer1@provider.example", [
            ("exchange/mailbox/j.smith@contoso.example", "read-folder-metadata")])),
        (now - 4 * d + 4 * h, summary("c_done", "engineer1@provider.example",
                                      "Read the folder metadata of one mailbox; found a sync "
                                      "rule pointing at a deleted calendar and told the "
                                      "customer which one.")),
        (now - 3 * d, reply("c_done", "approver2@contoso.example", False,
                            "The case notes say you also opened two messages; that was not "
                            "agreed.")),
        (now - 3 * d + 3 * h + 30 * m, report("f_released", "engineer2@provider.example", [
            ("exchange/mailbox/ops@fabrikam.example", "read-export-queue"),
            ("exchange/mailbox/ceo@fabrikam.example", "read-export-queue")])),
        (now - 3 * d + 5 * h, summary("f_released", "engineer2@provider.example",
                                      "Read the export queue; one job was stuck on a corrupt "
                                      "item, which the customer removed.")),
        (now - 2 * d, reply("f_released", "approver1@fabrikam.example", True)),
        (now - 3 * d + 60 * m, report("c_revoked", "engineer2@provider.example", [
            ("sharepoint/sites/finance/list-7", "read-items"),
            ("sharepoint/sites/hr/salaries", "read-items")])),
        (now - 30 * m, report("c_active", "engineer1@provider.example", [
            ("exchange/mailbox/j.smith@contoso.example/statistics", "read-statistics")])),
    ]
