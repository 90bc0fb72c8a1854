"""Where a webhook may point: never into the provider's own network."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_url(url: str, *, delivering: bool = False) -> list[Address]:
    """The addresses `url` may be delivered to, or ValidationError.

    Refuse anything but http(s), and (outside development) any private, loopback, link-local or
    reserved address, so a tenant cannot make Lockbox probe the provider's own network. Checked
    when saved and again before every delivery, and a delivery connects to exactly the addresses
    checked here: resolving the name again to connect would let DNS answer differently the
    second time (DNS rebinding)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Use an http:// or https:// address.")
    if parts.username or parts.password:
        raise ValidationError("Leave credentials out of the address; use the signing secret.")
    if settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE and not delivering:
        return []  # development: a receiver that does not resolve yet may still be saved
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ValidationError(f"{parts.hostname} does not resolve.") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            if not address.is_global:
                raise ValidationError(
                    f"{parts.hostname} points at {address}, a private or local address; "
                    "webhooks must go to the public internet.")
    return addresses
