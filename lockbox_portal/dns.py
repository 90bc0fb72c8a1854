"""TXT records, asked of DNS with a bounded wait (dnspython).

Which resolver: settings.LOCKBOX_DNS_NAMESERVERS ("host" or "host:port" items), or the system's
when that is empty. A name that does not exist or holds no TXT record is an empty answer; a
resolver that cannot be reached, times out or fails is DNSUnavailable, which callers must not
take for "no record".
"""

from __future__ import annotations

import ipaddress

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DNSUnavailable(Exception):
    """DNS could not be asked, or did not answer in time; says why, for the person."""


def _nameserver(item: str) -> dns.nameserver.Nameserver:
    """"192.0.2.53", "192.0.2.53:5353", "2001:db8::53" or "[2001:db8::53]:5353"."""
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("53" if not rest else "")
    elif item.count(":") == 1:
        host, port = item.split(":")
    else:
        host, port = item, "53"
    try:
        ipaddress.ip_address(host)
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(port)
    except ValueError:
        raise ImproperlyConfigured(
            f"LOCKBOX_DNS_NAMESERVERS: {item!r} is not an IP address with an optional :port"
        ) from None
    return dns.nameserver.Do53Nameserver(host, port=number)


def _resolver() -> dns.resolver.Resolver:
    servers = settings.LOCKBOX_DNS_NAMESERVERS
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_nameserver(item) for item in servers]
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            raise DNSUnavailable("This server has no DNS resolver configured.") from None
    timeout = settings.LOCKBOX_DNS_TIMEOUT
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 1.0)
    resolver.cache = None
    return resolver


def txt_values(name: str) -> set[str]:
    """The TXT records at `name`, each one string (a long record's 255-byte pieces joined)."""
    resolver = _resolver()
    try:
        answer = resolver.resolve(name, "TXT", search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return set()
    except dns.resolver.LifetimeTimeout:
        raise DNSUnavailable(f"DNS did not answer within {resolver.lifetime:g} s.") from None
    except dns.resolver.NoNameservers:
        raise DNSUnavailable("DNS answered with an error (SERVFAIL or refused).") from None
    except dns.exception.DNSException as problem:
        raise DNSUnavailable(f"DNS could not be asked: {problem.__class__.__name__}.") from None
    if answer.rrset is None:
        return set()
    return {b"".join(record.strings).decode("utf-8", "replace") for record in answer.rrset}
