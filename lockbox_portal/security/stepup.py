"""Step-up: a fresh second-factor check, bound to one action.

Deciding, revoking and changing settings each name an action key (for example
"approve:<request id>" or "settings:contoso:policy"). A check made for one key is good for that
key alone, and only for LOCKBOX_STEP_UP_MAX_AGE (5 minutes).
"""

from django.conf import settings

from lockbox_portal import clock
from lockbox_portal.security import mfa

SESSION_KEY = "lockbox_step_up"
OFFERED_KEY = "lockbox_step_up_offered"


def is_fresh(request, action, *, now=None):
    now = now or clock.now()
    checked_at = request.session.get(SESSION_KEY, {}).get(action)
    if checked_at is None:
        return False
    age = now.timestamp() - checked_at
    return 0 <= age <= settings.LOCKBOX_STEP_UP_MAX_AGE.total_seconds()


def record(request, action, *, now=None):
    now = now or clock.now()
    checks = {
        key: at for key, at in request.session.get(SESSION_KEY, {}).items()
        if now.timestamp() - at <= settings.LOCKBOX_STEP_UP_MAX_AGE.total_seconds()
    }
    checks[action] = now.timestamp()
    request.session[SESSION_KEY] = checks
    # A new session key after every elevation, so a key seen before it is worth nothing after.
    request.session.cycle_key()


def confirm(request, action, code, *, now=None):
    """Return "" when the action may go ahead, or the message to show when it may not."""
    if is_fresh(request, action, now=now):
        return ""
    if not mfa.normalise_code(code):
        return ("Enter a code from your authenticator app (or a backup code) to confirm it is "
                "you. Each decision needs a check from the last 5 minutes.")
    device, problem = mfa.verify_code(request.user, code)
    if device is None:
        return problem
    record(request, action, now=now)
    return ""


def offer(request, action):
    """Note the action whose confirmation page is open, so that a passkey check made from that
    page (which cannot carry the action itself) counts for it and nothing else."""
    request.session[OFFERED_KEY] = action


def record_offered(request, *, now=None):
    action = request.session.pop(OFFERED_KEY, None)
    if action:
        record(request, action, now=now)
