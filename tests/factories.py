"""People and requests for tests, made through the same services the product uses."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_static.models import StaticDevice

from approvals import transitions as t
from approvals.models import ReasonType, State
from approvals.tenants import add_provider_role, add_tenant_member, create_tenant


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}@example.test")
    email = factory.SelfAttribute("username")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def person(email, *, provider_role=None, tenant=None, tenant_roles=()):
    user = UserFactory(username=email, email=email)
    if provider_role:
        add_provider_role(user=user, role=provider_role)
    for role in tenant_roles:
        add_tenant_member(tenant=tenant, user=user, role=role)
    return user


def tenant(slug, **policy):
    return create_tenant(slug=slug, name=slug.replace("-", " ").title(), **policy)


def submit(*, engineer, tenant, now, hours=1, **overrides):
    fields = {
        "case_reference": "CASE-1",
        "justification": "The customer's mailbox does not sync; we need to read its rules.",
        "reason_type": ReasonType.CUSTOMER_INITIATED_SUPPORT,
        "scope": ["exchange/mailbox/user@example.test"],
        "access_level": "read_only",
        "requested_duration": timedelta(hours=hours),
    }
    fields.update(overrides)
    return t.submit_request(requester=engineer, tenant=tenant, now=now, **fields)


def request_in_state(state, *, engineer, manager, approver, tenant, now):
    """A request brought to `state` through the lifecycle, with every step at or before now+3m.

    The grant (when there is one) runs from now+2m for an hour.
    """
    minute = timedelta(minutes=1)
    if state == State.EXPIRED:
        req = submit(engineer=engineer, tenant=tenant, now=now - timedelta(hours=13))
        return t.expire(access_request=req, now=now)
    req = submit(engineer=engineer, tenant=tenant, now=now)
    if state == State.PENDING_INTERNAL:
        return req
    if state == State.CANCELLED:
        return t.cancel(access_request=req, actor=engineer, now=now + minute)
    if state == State.DENIED:
        return t.internal_reject(access_request=req, actor=manager, comment="no", now=now + minute)
    req = t.internal_approve(access_request=req, actor=manager, now=now + minute)
    if state == State.PENDING_CUSTOMER:
        return req
    req = t.customer_approve(access_request=req, actor=approver, now=now + 2 * minute)
    if state == State.APPROVED:
        return req
    if state == State.REVOKED:
        return t.revoke(access_request=req, actor=approver, now=now + 3 * minute)
    if state == State.COMPLETED:
        return t.release(access_request=req, actor=engineer, now=now + 3 * minute)
    raise ValueError(state)


def verify_with_otp(client, user):
    """Sign `user` in, verified with a backup code device; returns ten unused backup codes
    (handy for step-up checks, which do not depend on the clock)."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from lockbox_portal.security import mfa

    codes = mfa.new_backup_codes(user)
    device = StaticDevice.objects.get(user=user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return codes


def totp_device(user):
    """A confirmed authenticator app with a known key, and a function giving its code at t."""
    import time

    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)

    def code_at(seconds_from_now=0):
        clock = TOTP(device.bin_key, device.step, device.t0, device.digits, 0)
        clock.time = time.time() + seconds_from_now
        return f"{clock.token():06d}"

    return device, code_at
