"""Small display helpers shared by the portal's templates."""

from datetime import UTC

from django import template
from django.utils.html import format_html

from approvals.actions import label as _action_label
from approvals.models import State
from approvals.policy import format_duration
from lockbox_portal import clock
from lockbox_portal.security.mfa import passkeys

register = template.Library()


@register.filter
def utc(moment):
    """28 Nov 21:30 UTC — one time zone on every page, always named."""
    if not moment:
        return "—"
    return moment.astimezone(UTC).strftime("%d %b %Y %H:%M UTC")


@register.filter
def duration(delta):
    return format_duration(delta) if delta is not None else "—"


@register.filter
def action_label(action):
    return _action_label(action)


@register.filter
def has_passkeys(user):
    return user.is_authenticated and passkeys(user).exists()


@register.filter
def sub(value, other):
    return value - other


@register.simple_tag
def time_left(deadline, now=None):
    """A <time> element that says how long is left; lockbox.js keeps it counting down."""
    now = now or clock.now()
    seconds = (deadline - now).total_seconds()
    if seconds <= 0:
        text = "now"
    elif seconds < 60:
        text = "in less than a minute"
    else:
        text = "in " + format_duration(deadline - now)
    return format_html('<time class="countdown" datetime="{}" data-countdown>{}</time>',
                       deadline.astimezone(UTC).isoformat(), text)


@register.simple_tag
def state_badge(state):
    state = State(state)
    return format_html('<span class="badge state-{}">{}</span>', state.value, state.label)
