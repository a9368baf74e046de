"""Every console and portal page answers junk input with a page, never a 500."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from kiban.core.models import Role
from tests import factories

ALL_ROLES = [r.value for r in Role if r != Role.PLATFORM_OPERATOR]


def _routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    out: list[str] = []
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            out += _routes(p, route)
        elif isinstance(p, URLPattern):
            out.append(route)
    return out


def _fill(route: str, value: str) -> str:
    route = route.lstrip("^").rstrip("$")
    route = re.sub(r"<int:[^>]+>", "999999", route)
    route = re.sub(r"<[^>]+>", value, route)
    route = re.sub(r"\(\?P<[^>]+>[^)]*\)", value, route)
    return "/" + route


@pytest.mark.django_db
def test_pages_never_answer_500():
    m = factories.municipality()
    staff = factories.logged_in_client(factories.staff(m, *ALL_ROLES))
    staff.raise_request_exception = False
    routes = [r for r in _routes(get_resolver()) if not r.startswith("api/")]
    assert any(r.startswith("console/") for r in routes)
    checked = 0
    for route in routes:
        if "static" in route:
            continue
        for value in ("x", "0", "ｘ"):
            url = _fill(route, value)
            for method in ("get", "post"):
                data = {"q": "ﾔﾏ", "birth_date": "R99.99.99", "event_date": "2026-02-30"}
                r = getattr(staff, method)(url, data)
                checked += 1
                assert r.status_code < 500, (method, url, r.status_code)
    assert checked > 40
