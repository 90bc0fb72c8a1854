"""The one place Lockbox reads the wall clock.

Services take `now=` so tests can move time; when they are not given it, they call `now()` here.
"""

from django.utils import timezone


def now():
    return timezone.now()
