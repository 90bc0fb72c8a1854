"""The Lockbox project: settings, URLs per site, the Celery app, security.

Importing the project chooses no settings: each entry point does (manage.py → local, wsgi.py →
production, celery.py → production for `celery -A lockbox_portal worker|beat`). The Celery app is
loaded by LockboxPortalConfig.ready() once Django is set up, so tasks queue from every process.
"""
