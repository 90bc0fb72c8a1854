"""People, tenants, tokens and webhooks for the cluster test, made through the services.

Run by tests/cluster.py in a process of its own with production settings, against the
cluster's primary (`python -m tests.cluster_seed <receiver URL>`); prints what the load's
clients need as JSON: passwords, each person's authenticator key (hex) and backup codes, and
the API tokens' raw secrets. Nothing here is a fixture of the test database.
"""

import json
import secrets
import sys

PASSWORD = "cluster-test-password"  # a throwaway cluster on loopback
TENANTS = ("acme", "globex")
BACKUP_CODES = 300


def main(receiver_url):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from approvals import tokens
    from approvals.models import ProviderRole, TenantRole
    from approvals.notifications.webhooks import endpoints
    from approvals.tenants import add_provider_role, add_tenant_member, create_tenant

    def person(email):
        user = get_user_model().objects.create_user(username=email, email=email,
                                                    password=PASSWORD)
        key = secrets.token_hex(20)
        TOTPDevice.objects.create(user=user, name="Authenticator app", key=key, confirmed=True)
        static = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
        codes = [secrets.token_hex(4) for _ in range(BACKUP_CODES)]
        static.token_set.bulk_create([static.token_set.model(device=static, token=c)
                                      for c in codes])
        people[email] = {"email": email, "totp_key": key, "codes": codes}
        return user

    people, made = {}, {"tenants": list(TENANTS), "tokens": {}}
    with transaction.atomic():
        for n in (1, 2):
            engineer = person(f"eng{n}@provider.test")
            add_provider_role(user=engineer, role=ProviderRole.ENGINEER)
            made["tokens"][f"support:eng{n}"] = tokens.create_token(
                owner=engineer, name="support", purpose="support", days=1)[1]
            manager = person(f"man{n}@provider.test")
            add_provider_role(user=manager, role=ProviderRole.INTERNAL_APPROVER)
            made["tokens"][f"support:man{n}"] = tokens.create_token(
                owner=manager, name="queue", purpose="support", days=1)[1]
        made["tokens"]["data_plane"] = tokens.create_token(
            owner=get_user_model().objects.get(email="man1@provider.test"), name="data plane",
            purpose="data_plane", days=1)[1]
        for slug in TENANTS:
            tenant = create_tenant(slug=slug, name=slug.title(), required_approvals=1)
            add_tenant_member(tenant=tenant, user=person(f"approver@{slug}.test"),
                              role=TenantRole.APPROVER)
            for surface in ("google", "azure"):
                admin = person(f"{surface}@{slug}.test")
                add_tenant_member(tenant=tenant, user=admin, role=TenantRole.ADMIN)
                add_tenant_member(tenant=tenant, user=admin, role=TenantRole.APPROVER)
                made["tokens"][f"{surface}:{slug}"] = tokens.create_token(
                    owner=admin, tenant=tenant, name=surface, purpose="tenant_decide",
                    days=1)[1]
            endpoints.create_endpoint(tenant=tenant, actor=admin, url=receiver_url,
                                      event_types=endpoints.EVENT_TYPES)
    made["people"] = people
    made["password"] = PASSWORD
    json.dump(made, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
