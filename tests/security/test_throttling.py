"""Sign-in is throttled per client, per client and account, and per account; the client is the
address the configured proxy saw, and the counts are shared by every process."""

import os
import re
import subprocess
import sys
import uuid

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.processes import ROOT, gunicorn, needs_redis, redis_server

PASSWORD = "correct horse battery"
PROXY = "10.0.0.2"
TOO_MANY = "Too many failed login attempts"
WRONG = "are not correct"


@pytest.fixture(autouse=True)
def fresh_counts():
    # Only ever this process's memory: clearing a Redis would empty its whole database.
    assert isinstance(caches["default"], LocMemCache), "run the tests without CACHE_URL"
    cache.clear()
    yield
    cache.clear()


def _sign_in(client, email, password=PASSWORD, **extra):
    return client.post(reverse("account_login"), {"login": email, "password": password},
                       **extra)


def _outcome(response):
    """"in" (signed in), "wrong" (the password was checked) or "refused" (not even checked)."""
    if response.status_code == 302:
        return "in"
    html = response.content.decode()
    if response.status_code == 429 or TOO_MANY in html:
        return "refused"
    assert WRONG in html, html
    return "wrong"


def _random_email():
    return f"{uuid.uuid4().hex[:12]}@nowhere.test"


def test_failures_from_one_client_behind_the_proxy_do_not_stop_another(settings, approver_a):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    attacker = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    outcomes = [_outcome(_sign_in(attacker, _random_email(), "guess")) for _ in range(60)]
    assert outcomes.count("wrong") == 10 and outcomes.count("refused") == 50
    person = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert _outcome(_sign_in(person, approver_a.email)) == "in"


def test_a_client_cannot_choose_its_address_behind_the_proxy(settings, approver_a):
    """The proxy appends the address that connected to it; what the client wrote before it
    is ignored."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    attacker = Client(REMOTE_ADDR=PROXY)
    outcomes = [_outcome(_sign_in(attacker, _random_email(), "guess",
                                  HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.7"))
                for n in range(15)]
    assert outcomes.count("wrong") == 10
    spoofing_the_person = Client(REMOTE_ADDR=PROXY,
                                 HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7")
    assert _outcome(_sign_in(spoofing_the_person, approver_a.email)) == "refused"


def test_without_a_proxy_forwarded_for_is_ignored(approver_a):
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    outcomes = [_outcome(_sign_in(attacker, _random_email(), "guess",
                                  HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"))
                for n in range(15)]
    assert outcomes.count("wrong") == 10


def test_one_address_cannot_lock_a_person_out_of_their_account(approver_a):
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    outcomes = [_outcome(_sign_in(attacker, approver_a.email, "guess")) for _ in range(8)]
    assert outcomes == ["wrong"] * 5 + ["refused"] * 3
    # The attacker may not go on guessing this account, even with the right password ...
    assert _outcome(_sign_in(attacker, approver_a.email)) == "refused"
    # ... but the person, from their own address, signs in.
    assert _outcome(_sign_in(Client(REMOTE_ADDR="203.0.113.9"), approver_a.email)) == "in"


def test_many_addresses_together_shut_an_account_for_a_while(approver_a):
    for n in range(20):
        attacker = Client(REMOTE_ADDR=f"198.51.100.{n}")
        assert [_outcome(_sign_in(attacker, approver_a.email, "guess"))
                for _ in range(5)] == ["wrong"] * 5
    assert _outcome(_sign_in(Client(REMOTE_ADDR="203.0.113.9"), approver_a.email)) == "refused"


def test_a_right_password_does_not_use_up_the_limit(approver_a):
    person = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(12):
        assert _outcome(_sign_in(Client(REMOTE_ADDR="203.0.113.9"), approver_a.email)) == "in"
    assert _outcome(_sign_in(person, approver_a.email, "typo")) == "wrong"


# --- Several processes --------------------------------------------------------------------------

COUNT_IN_A_PROCESS = """
import uuid

import django
django.setup()
from allauth.account.adapter import get_adapter
from django.core.exceptions import ValidationError
from django.test import RequestFactory

checked = 0
for _ in range(8):
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="198.51.100.7")
    try:
        get_adapter(request).pre_authenticate(request, email=f"{uuid.uuid4().hex}@x.test")
    except ValidationError:
        continue
    checked += 1
print(checked)
"""


@needs_redis
def test_processes_share_one_count_per_client(tmp_path):
    """Two processes, each allowing itself ten failures a minute for one address, together
    allow ten: the count lives in the Redis named by CACHE_URL, not in each process."""
    with redis_server(tmp_path) as url:
        env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.test",
               "CACHE_URL": url}
        processes = [subprocess.Popen([sys.executable, "-c", COUNT_IN_A_PROCESS], cwd=ROOT,
                                      env=env, stdout=subprocess.PIPE, text=True)
                     for _ in range(2)]
        allowed = [int(p.communicate(timeout=60)[0]) for p in processes]
    assert sum(allowed) == 10, allowed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@needs_redis
def test_behind_the_proxy_two_workers_count_each_client_once(tmp_path, approver_a):
    """gunicorn with two workers, the client address from X-Forwarded-For (one proxy), the
    counts in Redis: 60 failures from one client are checked ten times in all, whichever worker
    takes them, and another client still signs in."""
    import requests

    db = connection.settings_dict
    with redis_server(tmp_path) as cache_url:
        env = {"DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.test",
               "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
                               f"{db['PORT'] or 5432}/{db['NAME']}",
               "CACHE_URL": cache_url, "LOCKBOX_TRUSTED_PROXY_COUNT": "1"}
        with gunicorn(tmp_path, env, workers=2) as (base, log):
            def attempt(client_address, email, password):
                session = requests.Session()
                headers = {"X-Forwarded-For": client_address}
                form = session.get(f"{base}/accounts/login/", headers=headers, timeout=10)
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
                return session.post(f"{base}/accounts/login/", headers=headers, timeout=10,
                                    allow_redirects=False,
                                    data={"login": email, "password": password,
                                          "csrfmiddlewaretoken": token})

            outcomes = [_outcome(attempt("198.51.100.7", _random_email(), "guess"))
                        for _ in range(60)]
            signed_in = attempt("203.0.113.9", approver_a.email, PASSWORD)
            workers = {line.split()[0] for line in log.read_text().splitlines()
                       if "/accounts/login/" in line}
    assert outcomes.count("wrong") == 10 and outcomes.count("refused") == 50
    assert signed_in.status_code == 302
    assert len(workers) == 2


def test_a_hung_cache_fails_sign_in_closed_within_seconds(settings, monkeypatch, approver_a):
    """A Redis that accepts connections and never answers: the sign-in is refused with the
    error page in bounded time, and nobody is signed in without the limits being counted."""
    import socket
    import threading
    import time

    from lockbox_portal.env import env_cache

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    stop = threading.Event()

    def accept_and_say_nothing():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_say_nothing, daemon=True)
    thread.start()
    monkeypatch.setenv("CACHE_URL", f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    try:
        settings.CACHES = {"default": env_cache("CACHE_URL")}
        client = Client(raise_request_exception=False)
        started = time.monotonic()
        response = _sign_in(client, approver_a.email)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
        for connection_ in held:
            connection_.close()
        listener.close()
    assert response.status_code == 500
    assert elapsed < 5
    assert "_auth_user_id" not in client.session
