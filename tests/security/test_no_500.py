"""Bad input gets a 4xx with a message, never a 500: every API operation, junk input."""

import re

import pytest

from kiban.core.models import Role
from tests import factories

ALL_ROLES = [r.value for r in Role if r != Role.PLATFORM_OPERATOR]
JUNK_BODIES = [
    "{}",
    "[]",
    "not json at all",
    '{"procedure": 5, "payload": "%%%", "signature": null}',
    '{"event_date": "2026-02-30", "persons": "x", "address": 1}',
    "{" * 50,
]
JUNK_PARAMS = ["0", "99999999999", "ｘ", "2026-13-45", "..%2F..%2Fetc"]


def _operations():
    from kiban.api import api

    schema = api.get_openapi_schema()
    for path, ops in schema["paths"].items():
        for method in ops:
            yield path, method


@pytest.mark.django_db
def test_no_operation_answers_500_to_junk():
    m = factories.municipality()
    client = factories.api_client(factories.token(m, *ALL_ROLES))
    client.raise_request_exception = False
    tried = 0
    for path, method in _operations():
        for param in JUNK_PARAMS:
            url = re.sub(r"\{[^}]+\}", param, path.replace("{code}", m.code))
            bodies = JUNK_BODIES if method != "get" else [None]
            for body in bodies:
                if body is None:
                    r = client.get(url, {"q": "ﾔﾏﾀﾞ", "limit": "-1", "as_of": "R99.99.99"})
                else:
                    r = getattr(client, method)(url, data=body, content_type="application/json")
                tried += 1
                assert r.status_code < 500, (method, url, body, r.status_code, r.content[:400])
                if r.status_code >= 400 and r["Content-Type"].startswith("application/json"):
                    data = r.json()
                    if isinstance(data, dict) and "code" in data:
                        assert data.get("message_ja") and data.get("message_en"), data
    assert tried > 50
