"""A real DNS server on loopback for the domain-proof tests (dnslib), not a stand-in for
dnspython: the resolver Lockbox builds sends real UDP queries to it.

    with TxtZone() as zone:          # listening on 127.0.0.1:<free port>
        zone.txt["_lockbox-challenge.example.com"] = ["lockbox-domain-verification=..."]
        zone.address                  # "127.0.0.1:<port>", for LOCKBOX_DNS_NAMESERVERS

Names not in `txt` answer NXDOMAIN; `zone.failing = True` answers SERVFAIL to everything.
A silent server (nothing answers: a resolver that hangs) is `silent_address()`.
"""

import socket

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class TxtZone(BaseResolver):
    def __init__(self):
        self.txt = {}
        self.failing = False
        self.asked = []
        self.server = None

    def resolve(self, request, handler):
        reply, question = request.reply(), request.q
        name = str(question.qname).lower().rstrip(".")
        self.asked.append(name)
        if self.failing:
            reply.header.rcode = RCODE.SERVFAIL
        elif name not in self.txt:
            reply.header.rcode = RCODE.NXDOMAIN
        elif question.qtype == QTYPE.TXT:
            for value in self.txt[name]:
                # A list is one record split in pieces of at most 255 bytes, as DNS stores
                # long values.
                pieces = value if isinstance(value, list) else [value]
                reply.add_answer(RR(question.qname, QTYPE.TXT, rdata=TXT(pieces), ttl=0))
        return reply

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server.server_address[1]}"

    def __enter__(self):
        self.server = DNSServer(self, address="127.0.0.1", port=0,
                                logger=DNSLogger(logf=lambda *args: None))
        self.server.start_thread()
        return self

    def __exit__(self, *exc):
        self.server.stop()
        self.server.server.server_close()


class SilentServer:
    """A UDP socket that reads queries and never answers."""

    def __enter__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc):
        self.sock.close()
