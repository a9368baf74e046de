import pytest
from django.test import Client

from tests import factories


@pytest.mark.django_db
def test_healthz_reports_database() -> None:
    r = Client().get("/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


@pytest.mark.django_db
def test_openapi_document_served() -> None:
    r = Client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.json()["info"]["title"] == "kiban API"


@pytest.mark.django_db
def test_console_home_requires_login_then_shows_role_tiles() -> None:
    m = factories.municipality()
    assert Client().get("/console/").status_code == 302
    c = factories.logged_in_client(factories.staff(m, "registry_clerk"))
    r = c.get("/console/")
    assert r.status_code == 200
    assert "/console/registry/" in r.content.decode()
    assert "/console/audit/" not in r.content.decode()
