"""Indexes for the access check's one query: the engineer by e-mail, case-insensitively (an
expression index on the user table, PostgreSQL only: SQLite's case-insensitive match cannot use
it), and the engineer's approved grants in a tenant (a partial index)."""

from django.conf import settings
from django.db import migrations, models

EMAIL_INDEX = "lockbox_user_email_upper_idx"


def create_email_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = apps.get_model(settings.AUTH_USER_MODEL)._meta.db_table
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {EMAIL_INDEX} ON {table} (UPPER(email))")


def drop_email_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {EMAIL_INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ('approvals', '0004_attestations'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='accessrequest',
            index=models.Index(condition=models.Q(('state', 'approved')),
                               fields=['requester', 'tenant', 'access_ends_at'],
                               name='request_active_grant_idx'),
        ),
        migrations.RunPython(create_email_index, drop_email_index),
    ]
