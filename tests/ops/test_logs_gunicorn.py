"""A real gunicorn with production settings logs JSON only, and the request id it was sent
comes back and is in the access line."""

import json

import requests

from tests.processes import collect_static, production_env
from tests.processes import gunicorn as run_gunicorn


def test_gunicorn_writes_only_json_lines_with_the_request_id(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                         HOME=str(tmp_path), LOCKBOX_LOG_FORMAT="json")
    collect_static(env, tmp_path)  # the 404 page links its stylesheet through the manifest
    headers = {"Host": "localhost", "X-Forwarded-Proto": "https"}
    with run_gunicorn(tmp_path, env) as (base, _):
        ok = requests.get(f"{base}/healthz", timeout=20, allow_redirects=False,
                          headers={**headers, "X-Request-ID": "trace-me.1_a"})
        missing = requests.get(f"{base}/no/such/page", params={"token": "lbx_abc_query"},
                               timeout=20, allow_redirects=False, headers=headers)
    assert ok.headers["X-Request-ID"] == "trace-me.1_a"
    assert missing.status_code == 404, (tmp_path / "gunicorn.err").read_text()[-3000:]

    stderr = (tmp_path / "gunicorn.err").read_text()
    lines = [json.loads(line) for line in stderr.splitlines()]  # every line is JSON
    assert "lbx_abc_query" not in stderr
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own too
    access = [line for line in lines if line["logger"] == "lockbox.access"]
    assert [(a["route"], a["status"]) for a in access] == [("healthz", 200),
                                                          ("/no/such/page", 404)]
    assert access[0]["request_id"] == "trace-me.1_a"
    assert access[1]["request_id"] == missing.headers["X-Request-ID"]
    [not_found] = [line for line in lines if line["logger"] == "django.request"]
    assert not_found["request_id"] == missing.headers["X-Request-ID"]
