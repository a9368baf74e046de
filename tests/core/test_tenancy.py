"""Every API endpoint refuses another municipality's staff and token (table-driven)."""

import re

import pytest
from django.test import Client

from kiban.core.models import Role
from tests import factories

ALL_ROLES = [r.value for r in Role if r != Role.PLATFORM_OPERATOR]
# Routes authenticated by a card signature, not by staff or token (tested in identity).
SIGNATURE_AUTHENTICATED = {"/api/v1/municipalities/{code}/applications"}


def _operations():
    from kiban.api import api

    schema = api.get_openapi_schema()
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def _fill(path: str, code: str) -> str:
    path = path.replace("{code}", code)
    return re.sub(r"\{[^}]+\}", "1", path)


def test_openapi_has_municipality_scoped_routes():
    paths = [p for p, _, _ in _operations()]
    assert any("{code}" in p for p in paths)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["token", "staff"])
def test_other_municipality_gets_404_everywhere(who):
    home = factories.municipality()
    other = factories.municipality(factories.CHIYODA[0])
    if who == "token":
        client = factories.api_client(factories.token(home, *ALL_ROLES))
    else:
        client = factories.logged_in_client(factories.staff(home, *ALL_ROLES))
    checked = 0
    for path, method, _op in _operations():
        if "{code}" not in path or path in SIGNATURE_AUTHENTICATED:
            continue
        url = _fill(path, other.code)
        if method == "get":
            r = client.get(url)
        else:
            r = getattr(client, method)(url, data={}, content_type="application/json")
        checked += 1
        # 404 (never revealing data), or 422 when the body is checked before the tenant.
        assert r.status_code in (404, 422), (method, url, r.status_code, r.content[:300])
        assert other.name.encode() not in r.content
    assert checked >= 2


@pytest.mark.django_db
def test_no_credentials_is_401_with_bilingual_message():
    m = factories.municipality()
    r = Client().get(f"/api/v1/municipalities/{m.code}")
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == "unauthorized" and body["message_ja"] and body["message_en"]


@pytest.mark.django_db
def test_revoked_or_unknown_token_is_refused():
    m = factories.municipality()
    r = factories.api_client("kbn_not-a-real-token").get("/api/v1/me")
    assert r.status_code == 401
    raw = factories.token(m, "auditor")
    assert factories.api_client(raw).get("/api/v1/me").json()["municipality"] == m.code


@pytest.mark.django_db
def test_audit_api_needs_auditor_role():
    m = factories.municipality()
    clerk = factories.api_client(factories.token(m, "registry_clerk"))
    assert clerk.get(f"/api/v1/municipalities/{m.code}/audit").status_code == 403
    auditor = factories.api_client(factories.token(m, "auditor"))
    r = auditor.get(f"/api/v1/municipalities/{m.code}/audit")
    assert r.status_code == 200
    assert any(e["action"] == "municipality.create" for e in r.json())


@pytest.mark.django_db
def test_unknown_page_is_friendly_404_not_500():
    r = Client().get("/console/does-not-exist/")
    assert r.status_code == 404
    assert "見つかりません" in r.content.decode()
    r = Client().get("/api/v1/nope")
    assert r.status_code == 404
