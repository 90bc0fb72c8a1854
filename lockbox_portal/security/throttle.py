"""Sign-in limits per account, on top of allauth's per-address limit (settings.ACCOUNT_RATE_LIMITS).

A failed password is counted against the address it came from and the account, and against the
account from anywhere. Counting the account per address is what keeps one attacker from locking a
person out: their failures fill their own address's count, not the person's. allauth's internal
rate-limit module is used because its usages can be rolled back when the password is right; the
version is pinned in requirements.txt.
"""

from allauth.core.internal import ratelimit
from django.http import HttpRequest

APP = "allauth.account"


def _counts(request: HttpRequest, login: str) -> list[tuple[str, str]]:
    return [("login_failed_address_account", f"{ratelimit.get_ip(request)}:{login}"),
            ("login_failed_account", login)]


def consume(request: HttpRequest, login: str, usage: ratelimit.RateLimitUsage) -> bool:
    """Count an attempt at `login`; False, with nothing counted, when a limit is reached.

    What was counted is added to `usage` (allauth's RateLimitUsage for the attempt), which allauth
    rolls back when the password turns out right.
    """
    taken: list[ratelimit.RateLimitUsage] = []
    for action, key in _counts(request, login):
        used = ratelimit.consume(request, app=APP, action=action, key=key)
        if not used:
            for earlier in taken:
                earlier.rollback()
            return False
        taken.append(used)
    for used in taken:
        usage.usage.extend(used.usage)
    return True


def clear(request: HttpRequest, login: str) -> None:
    """Forget the account's failures (after its password was reset by e-mail)."""
    for action, key in _counts(request, login):
        ratelimit.clear(request, app=APP, action=action, key=key)
