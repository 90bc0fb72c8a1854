"""A real OpenID Connect provider on loopback for the SSO tests: panva's oidc-provider (npm),
run by node from tests/idp/oidc_idp.mjs, started by the test and stopped by it.

    with OidcProvider(users={...}, clients={"lockbox": {"secret": ..., "redirect_uris": [...]}})
            as idp:
        idp.issuer                     # http://127.0.0.1:<port>

Needs node and `npm ci --prefix tests/idp` (.ci/run does both). Elsewhere the tests that use
it skip, saying why; with LOCKBOX_REQUIRE_IDP=1 (CI) they fail instead.
"""

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.processes import stop

HERE = Path(__file__).resolve().parent / "idp"


def missing():
    """Why the provider cannot run here, or "" when it can."""
    if shutil.which("node") is None:
        return "needs node (Debian's nodejs) for the loopback OpenID Connect provider"
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        return "needs `npm ci --prefix tests/idp` (oidc-provider 9.13.3)"
    return ""


def require():
    reason = missing()
    if reason:
        if os.environ.get("LOCKBOX_REQUIRE_IDP"):
            pytest.fail(reason)
        pytest.skip(reason)


class OidcProvider:
    def __init__(self, *, users, clients):
        self.users, self.clients = users, clients
        self.process = None
        self.issuer = None
        self.log = []

    def __enter__(self):
        require()
        env = {"PATH": os.environ["PATH"], "IDP_USERS": json.dumps(self.users),
               "IDP_CLIENTS": json.dumps(self.clients), "NODE_NO_WARNINGS": "1"}
        self.process = subprocess.Popen(["node", str(HERE / "oidc_idp.mjs")], cwd=HERE, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        ready = threading.Event()

        def read():
            for line in self.process.stdout:
                self.log.append(line.rstrip())
                if line.startswith("LISTENING "):
                    self.issuer = line.split(" ", 1)[1].strip()
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(20) or self.issuer is None:
            stop(self.process)
            raise RuntimeError("the OpenID Connect provider did not start:\n"
                               + "\n".join(self.log))
        return self

    def __exit__(self, *exc):
        stop(self.process)
