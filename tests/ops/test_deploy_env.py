"""The env files in deploy/env/ and the README's Configuration table name the same settings, and
the shipped placeholders cannot start a production process by accident."""

import re
import subprocess
import sys

from tests.processes import DEPLOY_ENV, ROOT, env_file_values

README = ROOT / "README.md"
OPERATIONS = ROOT / "docs" / "operations.md"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "lockbox.conf"
# In the README's table but deliberately in no service's env file, and why.
NOT_IN_SERVICE_FILES = {
    "DATABASE_OWNER_URL": "set only in the shell that runs migrate (docs/operations.md)",
    "LOCKBOX_SIGNING_KEY": "the shipped files use LOCKBOX_SIGNING_KEY_FILE instead",
    "CELERY_TASK_ALWAYS_EAGER": "development only",
    "EMAIL_BACKEND": "production sends by SMTP, the default",
    "LOCKBOX_SITE": None,  # per site: customer.env and internal.env (checked below)
}


def _env_names():
    """Every NAME an env file sets or shows commented out as "#NAME=default"."""
    names = set()
    for path in DEPLOY_ENV.glob("*.env"):
        names |= set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", path.read_text(), re.MULTILINE))
    return names


def _readme_configuration_names():
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)(?:_\*)?`", row.split("|")[1]))
    return names


def test_every_setting_in_an_env_file_is_documented():
    documented = README.read_text() + OPERATIONS.read_text()
    template = NGINX_TEMPLATE.read_text()
    undocumented = sorted(name for name in _env_names() if f"`{name}`" not in documented
                          and f"${{{name}}}" not in template)
    assert not undocumented, undocumented


def test_nginx_env_sets_every_variable_the_template_uses():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)\}", NGINX_TEMPLATE.read_text()))
    shipped = set(env_file_values(DEPLOY_ENV / "nginx.env")) \
        | set(env_file_values(DEPLOY_ENV / "common.env"))
    assert used and used <= shipped, sorted(used - shipped)


def test_every_documented_setting_has_a_place_in_the_env_files():
    missing = sorted(_readme_configuration_names() - _env_names() - set(NOT_IN_SERVICE_FILES))
    assert not missing, missing


def test_the_shipped_placeholders_do_not_start_production():
    """Someone who copies the files and forgets a value gets a refusal, not a known secret."""
    values = {}
    for name in ("common", "web", "customer"):
        values.update(env_file_values(DEPLOY_ENV / f"{name}.env"))
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **values}, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "SECRET_KEY" in started.stderr
