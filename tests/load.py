"""Bounded load through nginx over HTTPS, as the people and systems around Lockbox make it.

A fixed set of client threads, one per person or system, each running until told to stop:
engineers submitting requests (native API, with an Idempotency-Key they repeat after a 5xx),
managers deciding on the internal site's pages (step-up with a backup code), customer approvers
deciding on the portal's pages, through Google's and through Azure's API, and the data plane
checking access and reporting activity. Every call is timed and its status kept by kind; every
decision's outcome, as the client was told it, goes to a ledger the test compares with the
database afterwards.
"""

import random
import re
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import requests
from django_otp.oath import totp

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
AZURE = "api-version=2018-02-28-preview"
TIMEOUT = 40  # above nginx's proxy_read_timeout: nginx answers first
CONNECTION_FAILED = "no answer"


class Stats:
    """Latency and status of every call, by kind."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = defaultdict(list)  # kind -> [(status, seconds, at)]

    def add(self, kind, status, seconds):
        with self.lock:
            self.calls[kind].append((status, seconds, time.monotonic()))

    def table(self):
        rows = {}
        for kind, calls in sorted(self.calls.items()):
            times = sorted(s for _, s, _ in calls)
            statuses = defaultdict(int)
            for status, _, _ in calls:
                statuses[str(status)] += 1
            rows[kind] = {"served": len(calls), "by_status": dict(sorted(statuses.items())),
                          "p50_ms": round(_quantile(times, 0.50) * 1000, 1),
                          "p99_ms": round(_quantile(times, 0.99) * 1000, 1)}
        return rows

    def statuses(self):
        found = defaultdict(int)
        for calls in self.calls.values():
            for status, _, _ in calls:
                found[str(status)] += 1
        return dict(found)


def _quantile(ordered, q):
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def format_table(rows):
    lines = [f"{'kind':34} {'served':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses"]
    for kind, row in rows.items():
        statuses = ", ".join(f"{s}: {n}" for s, n in row["by_status"].items())
        lines.append(f"{kind:34} {row['served']:>7} {row['p50_ms']:>8} {row['p99_ms']:>8}  "
                     f"{statuses}")
    return "\n".join(lines)


class Ledger:
    """What each client was told: requests it made, decisions it was told were made or
    refused, and calls that got no answer at all."""

    def __init__(self):
        self.lock = threading.Lock()
        self.submissions = []  # (idempotency key, case reference, status, request id)
        self.decisions = []  # (actor e-mail, request id, verb, surface, outcome, at)
        self.checks = []  # (request id, allowed, status)

    def add(self, field, row):
        with self.lock:
            getattr(self, field).append(row)


class Client:
    """One person's or system's HTTPS session through nginx."""

    def __init__(self, load, base, kind_prefix):
        self.load = load
        self.base = base
        self.prefix = kind_prefix
        self.http = requests.Session()
        self.cert = str(load.cert)  # per call: REQUESTS_CA_BUNDLE would win over Session.verify
        # Browsers send Origin with every POST; Django's CSRF check over HTTPS wants it.
        self.http.headers["Origin"] = base

    def call(self, kind, method, path, **kwargs):
        started = time.monotonic()
        try:
            response = self.http.request(method, self.base + path, timeout=TIMEOUT,
                                         verify=self.cert, **kwargs)
        except requests.RequestException as failure:
            self.load.stats.add(f"{self.prefix} {kind}", CONNECTION_FAILED,
                                time.monotonic() - started)
            self.load.unanswered.append(f"{method} {path}: {failure!r}"[:300])
            return None
        self.load.stats.add(f"{self.prefix} {kind}", response.status_code,
                            time.monotonic() - started)
        return response

    def sign_in(self, person, password):
        """Password, then the authenticator's current code, as a person signs in."""
        page = self.call("sign-in", "GET", "/accounts/login/")
        token = CSRF.search(page.text)[1]
        verify = self.call("sign-in", "POST", "/accounts/login/", data={
            "login": person["email"], "password": password, "csrfmiddlewaretoken": token})
        assert "/mfa/verify/" in verify.url, (person["email"], verify.status_code, verify.url)
        code = f"{totp(bytes.fromhex(person['totp_key'])):06d}"
        done = self.call("sign-in", "POST", verify.url.removeprefix(self.base), data={
            "code": code, "csrfmiddlewaretoken": CSRF.search(verify.text)[1]})
        assert done.status_code == 200 and "/mfa/verify/" not in done.url, done.url
        self.codes = list(person["codes"])
        self.email = person["email"]

    def decide_on_page(self, path, request_id, verb, surface):
        """Open the confirmation page, confirm with a backup code, read what the page said."""
        page = self.call("confirm page", "GET", path, allow_redirects=False)
        if page is not None and page.status_code == 302:
            # Decided by someone else meanwhile: the portal says so and offers no form.
            return self._decided(request_id, verb, surface, "refused")
        token = CSRF.search(page.text) if page is not None else None
        if page is None or page.status_code != 200 or token is None:
            return self._decided(request_id, verb, surface, _told(page))
        form = {"csrfmiddlewaretoken": token[1], "code": self.codes.pop(),
                "comment": "Not for this case." if verb == "reject" else ""}
        posted = self.call(f"{verb} (page, step-up)", "POST", path, data=form,
                           allow_redirects=False)
        if posted is None or posted.status_code != 302:
            return self._decided(request_id, verb, surface, _told(posted))
        shown = self.call("request page", "GET", posted.headers["Location"])
        if shown is None or shown.status_code != 200:
            # The decision's answer was a redirect; what it said was lost with the page.
            return self._decided(request_id, verb, surface, _told(shown, "unknown"))
        said = re.search(r'class="message (\w+)"', shown.text)
        outcome = {"success": "done", "error": "refused", "info": "refused"}.get(
            said[1] if said else "", "unknown")
        return self._decided(request_id, verb, surface, outcome)

    def _decided(self, request_id, verb, surface, outcome):
        self.load.ledger.add("decisions", (self.email, request_id, verb, surface, outcome,
                                           time.monotonic()))


def _told(response, default="no answer"):
    return default if response is None else f"http {response.status_code}"


class Load:
    def __init__(self, cluster, seconds):
        self.cluster = cluster
        self.cert = cluster.cert
        self.seed = cluster.seed
        self.seconds = seconds
        self.stats = Stats()
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.failures = []
        self.unanswered = []  # what went wrong on calls that got no HTTP answer
        self.threads = []

    def client(self, site, prefix):
        return Client(self, self.cluster.urls[site], prefix)

    def person(self, email):
        return self.seed["people"][email]

    def token(self, name):
        return {"Authorization": f"Bearer {self.seed['tokens'][name]}"}

    def start(self):
        jobs = [(self.engineer, n) for n in (1, 2)] + [(self.manager, n) for n in (1, 2)]
        for slug in self.seed["tenants"]:
            jobs += [(self.page_approver, slug), (self.google, slug), (self.azure, slug)]
        jobs.append((self.data_plane, None))
        for job, arg in jobs:
            thread = threading.Thread(target=self._run, args=(job, arg), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout=60):
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, f"{len(alive)} client(s) did not stop within {timeout} s"

    def _run(self, job, arg):
        try:
            job(arg)
        except Exception as failure:  # the test reports it; the other clients go on
            self.failures.append(f"{job.__name__}({arg}): {failure!r}")

    def _pause(self, seconds):
        self.stopping.wait(seconds)

    # -- the people ---------------------------------------------------------------------------

    def engineer(self, n):
        client = self.client("internal", "engineer")
        headers = self.token(f"support:eng{n}")
        rng = random.Random(n)
        while not self.stopping.is_set():
            key = str(uuid.uuid4())
            slug = rng.choice(self.seed["tenants"])
            body = {"tenant": slug, "case_reference": f"CL-{key[:13]}",
                    "justification": "Cluster test: read one mailbox's statistics.",
                    "reason_type": "customer_initiated_support", "access_level": "read_only",
                    "scope": [f"exchange/mailbox/user{rng.randrange(50)}@{slug}.test"],
                    "duration_minutes": 60, "touches_customer_content": True}
            for _ in range(4):  # a 5xx or no answer: the same key again, as a client should
                made = client.call("submit (API)", "POST", "/api/v1/requests", json=body,
                                   headers={**headers, "Idempotency-Key": key})
                if made is not None and made.status_code < 500:
                    break
                self._pause(0.5)
            created = made is not None and made.status_code == 201
            self.ledger.add("submissions", (key, body["case_reference"],
                                            made.status_code if made is not None else None,
                                            made.json()["id"] if created else None))
            self._pause(0.4)

    def manager(self, n):
        client = self.client("internal", "manager")
        client.sign_in(self.person(f"man{n}@provider.test"), self.seed["password"])
        headers = self.token(f"support:man{n}")
        rng = random.Random(10 + n)
        while not self.stopping.is_set():
            found = client.call("queue (API)", "GET",
                                "/api/v1/requests?state=pending_internal&limit=10",
                                headers=headers)
            waiting = found.json()["requests"] if found is not None and found.ok else []
            if not waiting:
                self._pause(0.3)
                continue
            pk = rng.choice(waiting)["id"]
            verb = "reject" if rng.random() < 0.1 else "approve"
            client.decide_on_page(f"/internal/requests/{pk}/{verb}/", pk, verb, "internal page")

    def page_approver(self, slug):
        client = self.client("customer", "approver")
        client.sign_in(self.person(f"approver@{slug}.test"), self.seed["password"])
        rng = random.Random(slug)
        link = re.compile(rf"/t/{slug}/requests/([0-9a-f-]{{36}})/approve/")
        while not self.stopping.is_set():
            home = client.call("dashboard", "GET", f"/t/{slug}/")
            waiting = link.findall(home.text) if home is not None and home.ok else []
            if not waiting:
                self._pause(0.3)
                continue
            pk = rng.choice(waiting)
            verb = "reject" if rng.random() < 0.1 else "approve"
            client.decide_on_page(f"/t/{slug}/requests/{pk}/{verb}/", pk, verb, "portal page")

    def google(self, slug):
        client = self.client("customer", "google")
        client.email = f"google@{slug}.test"
        headers = self.token(f"google:{slug}")
        while not self.stopping.is_set():
            found = client.call("list (Google)", "GET",
                                f"/v1/organizations/{slug}/approvalRequests?filter=PENDING",
                                headers=headers)
            waiting = (found.json().get("approvalRequests", [])
                       if found is not None and found.ok else [])
            if not waiting:
                self._pause(0.3)
                continue
            name = waiting[-1]["name"]  # the oldest: where the page approver is least likely
            done = client.call("approve (Google)", "POST", f"/v1/{name}:approve", json={},
                               headers=headers)
            outcome = ("done" if done is not None and done.status_code == 200 else
                       "refused" if done is not None and done.status_code == 400 else _told(done))
            client._decided(name.rsplit("/", 1)[1], "approve", "google api", outcome)

    def azure(self, slug):
        client = self.client("customer", "azure")
        client.email = f"azure@{slug}.test"
        headers = self.token(f"azure:{slug}")
        rng = random.Random(f"azure{slug}")
        base = f"/subscriptions/{slug}/providers/Microsoft.CustomerLockbox/requests"
        while not self.stopping.is_set():
            found = client.call("list (Azure)", "GET",
                                f"{base}?{AZURE}&$filter=properties/status eq 'Pending'",
                                headers=headers)
            waiting = found.json().get("value", []) if found is not None and found.ok else []
            if not waiting:
                self._pause(0.3)
                continue
            rid = rng.choice(waiting)["name"]
            status = "Deny" if rng.random() < 0.15 else "Approve"
            done = client.call("updateApproval (Azure)", "POST",
                               f"{base}/{rid}/updateApproval?{AZURE}",
                               json={"status": status, "reason": "Cluster test."},
                               headers=headers)
            outcome = ("done" if done is not None and done.status_code == 200 else
                       "refused" if done is not None and done.status_code == 409 else
                       _told(done))
            client._decided(rid, "approve" if status == "Approve" else "reject", "azure api",
                            outcome)

    def data_plane(self, _):
        client = self.client("internal", "data plane")
        headers = self.token("data_plane")
        queue = self.token("support:man1")
        rng = random.Random(7)
        while not self.stopping.is_set():
            found = client.call("granted (API)", "GET",
                                "/api/v1/requests?state=approved&limit=20", headers=queue)
            granted = found.json()["requests"] if found is not None and found.ok else []
            if not granted:
                self._pause(0.3)
                continue
            for req in rng.sample(granted, min(5, len(granted))):
                asked = {"engineer": req["requester"], "tenant": req["tenant"],
                         "resource": req["scope"][0], "access_level": "read_only"}
                answer = client.call("access check", "POST", "/api/v1/access/check",
                                     json=asked, headers=headers)
                allowed = answer.json().get("allowed") if answer is not None else None
                self.ledger.add("checks", (req["id"], allowed,
                                           answer.status_code if answer is not None else None))
                client.call("activity", "POST", "/api/v1/activity", json={
                    "tenant": req["tenant"], "engineer": req["requester"],
                    "actions": [{"resource": req["scope"][0], "operation": "read-statistics",
                                 "at": datetime.now(UTC).isoformat()}]},
                    headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            self._pause(0.2)
