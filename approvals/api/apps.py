from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "approvals.api"
    label = "api"
    verbose_name = "API"
