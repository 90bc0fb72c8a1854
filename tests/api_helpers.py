"""Tokens and calls for the API tests."""

import json

from django.test import Client

from approvals import tokens


def make_token(owner, purpose, tenant=None, days=30):
    token, raw = tokens.create_token(owner=owner, name=f"{purpose} token", purpose=purpose,
                                     days=days, tenant=tenant)
    return token, raw


class Api:
    """A test client that sends a bearer token and JSON."""

    def __init__(self, raw):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw}"} if raw else {}

    def get(self, path, **params):
        return self.client.get(path, params, headers=self.headers)

    def post(self, path, body=None, *, raw=None, key=None, **params):
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        if params:
            from urllib.parse import urlencode

            path = f"{path}?{urlencode(params)}"
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(path, data, content_type="application/json", headers=headers)

    def patch(self, path, body, **params):
        from urllib.parse import urlencode

        if params:
            path = f"{path}?{urlencode(params)}"
        return self.client.patch(path, json.dumps(body), content_type="application/json",
                                 headers=self.headers)
