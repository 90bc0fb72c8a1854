"""Posting one webhook delivery: to the addresses that were checked, signed, with a time limit."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from approvals.notifications.errors import DeliveryFailed
from approvals.notifications.models import OutboxMessage
from approvals.notifications.webhooks.addresses import Address, check_url
from approvals.notifications.webhooks.signing import body_bytes, sign
from lockbox_portal import clock

TIMEOUT_SECONDS: float = 10


class _Pinned(http.client.HTTPConnection):
    """HTTP to one address that was checked, whatever the name resolves to now."""

    def __init__(self, address: Address, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """HTTPS to one checked address; the certificate must still name the host in the URL."""

    def __init__(self, address: Address, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, context=ssl.create_default_context(), **kwargs)
        self.address = str(address)

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]  # typeshed omits it
            sock, server_hostname=self.host)


def _send(url: str, addresses: Sequence[Address], body: bytes, headers: dict[str, str]) -> int:
    """POST to the first of `addresses` that takes the connection; returns the status code.
    Redirects are not followed: a receiver cannot send Lockbox somewhere unchecked."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    kind = _PinnedTLS if parts.scheme == "https" else _Pinned
    problem: OSError | None = None
    for address in addresses:
        connection = kind(address, parts.hostname, parts.port, timeout=TIMEOUT_SECONDS)
        try:
            connection.connect()
        except OSError as refused:
            problem = refused
            connection.close()
            continue
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)  # the body is not used; read a little so the peer can end
            return response.status
        finally:
            connection.close()
    raise OSError(problem or "no address to connect to")


def post(message: OutboxMessage) -> int:
    """POST one delivery; returns the status code, or raises DeliveryFailed."""
    endpoint = message.endpoint
    if endpoint is None or not endpoint.is_active:
        raise DeliveryFailed("The webhook was disabled or deleted.", permanent=True)
    try:
        addresses = check_url(endpoint.url, delivering=True)
    except ValidationError as refused:
        raise DeliveryFailed(refused.messages[0], permanent=True) from None
    body = body_bytes(message.payload)
    timestamp = int(clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Lockbox-Webhooks/1",
        "Lockbox-Event": message.kind,
        "Lockbox-Delivery": message.key,
        "Lockbox-Signature": sign(endpoint.secret, timestamp, body),
    }
    try:
        code = _send(endpoint.url, addresses, body, headers)
    except (OSError, http.client.HTTPException) as problem:
        raise DeliveryFailed(f"Could not reach the receiver: {problem}.") from None
    if not 200 <= code < 300:
        raise DeliveryFailed(f"The receiver answered HTTP {code}.", status_code=code)
    return code
