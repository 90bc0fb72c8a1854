"""Calls Lockbox makes to an identity provider a tenant's admin named: discovery, token, userinfo
and keys. The admin types the issuer, and the issuer's discovery names the other endpoints, so
every one of them is a URL someone outside the provider chose. Each call therefore:

- goes only to https:// on a public address (or, with LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK, to a
  loopback address over http, for development and the tests' own provider), never into the
  provider's own network (private, link-local, reserved: cloud metadata, internal services);
- follows no redirect (a redirect could lead anywhere the check above refused);
- ends within DEADLINE seconds in all and reads at most MAX_BODY bytes, however slowly or
  however much the other side sends.

A refused or failed call raises OutboundRefused (an allauth OAuth2Error, which the sign-in
views turn into "not signed in"). The name is resolved to check it and resolved again by the
connection; a provider that answers DNS differently in between (rebinding) is not stopped here.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.conf import settings

DEADLINE = 10.0
MAX_BODY = 256 * 1024


class OutboundRefused(OAuth2Error):
    pass


def problem(url: str) -> str:
    """Why Lockbox will not call `url`, or "" when it will."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "not an https:// address"
    if parts.username or parts.password:
        return "credentials in the address"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError, OSError):
        return f"{parts.hostname} does not resolve"
    addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    loopback_ok = settings.LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK
    if loopback_ok and addresses and all(a.is_loopback for a in addresses):
        return ""
    if parts.scheme != "https":
        return "not an https:// address"
    for address in addresses:
        if not address.is_global:
            return f"{parts.hostname} points at {address}, a private or local address"
    return ""


class GuardedSession(requests.Session):
    """A requests session that makes only the calls the module allows."""

    def request(self, method: str, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        target = url.decode() if isinstance(url, bytes) else url
        why = problem(target)
        if why:
            raise OutboundRefused(f"Lockbox does not call {urlsplit(target).hostname}: {why}.")
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        kwargs["timeout"] = (3.0, 5.0)
        started = time.monotonic()
        response = super().request(method, url, *args, **kwargs)
        body = bytearray()
        try:
            for chunk in response.iter_content(16 * 1024):
                body += chunk
                if len(body) > MAX_BODY:
                    raise OutboundRefused("The identity provider's answer is too large.")
                if time.monotonic() - started > DEADLINE:
                    raise OutboundRefused("The identity provider did not answer in time.")
        finally:
            response.close()
        response._content = bytes(body)
        response._content_consumed = True
        return response
