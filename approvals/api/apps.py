from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "approvals.api"
    label = "api"
    verbose_name = "API"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from approvals.access import access_taken_away
        from approvals.api.models import ApiToken
        from approvals.models import ProviderMembership

        def owner_switched_off(sender, instance, **kwargs):
            if not instance.is_active:
                access_taken_away()

        def gone(sender, **kwargs):
            access_taken_away()

        # A token's answers are reused for a moment (approvals.access); whatever takes a token
        # or its owner away waits that moment out, however it is done (the admin included).
        user = get_user_model()
        post_save.connect(owner_switched_off, sender=user, weak=False,
                          dispatch_uid="lockbox-access-owner-off")
        post_delete.connect(gone, sender=user, weak=False, dispatch_uid="lockbox-access-user")
        post_delete.connect(gone, sender=ApiToken, weak=False,
                            dispatch_uid="lockbox-access-token")
        # A token stops with the role that let its owner make it (api.tokens.role_problem).
        post_delete.connect(gone, sender=ProviderMembership, weak=False,
                            dispatch_uid="lockbox-access-provider-role")
