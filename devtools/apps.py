from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """No models and no migrations: only commands and the code they run."""

    name = "devtools"
    label = "devtools"
    verbose_name = "Development tools"
