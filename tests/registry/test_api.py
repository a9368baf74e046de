"""Registry JSON API: reads, event endpoints, tenancy, roles, errors, OpenAPI."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kiban.core.actors import staff_actor
from kiban.core.identifiers import generate_mynumber
from kiban.core.models import AuditEntry, Role
from kiban.registry import services
from kiban.registry.models import Person, Status
from tests.factories import CHIYODA, api_client, municipality, staff, token
from tests.registry.core_factories import current, family

pytestmark = pytest.mark.django_db

ADDRESS = {
    "postcode": "2310023",
    "town_code": "0001000",
    "town_name": "山下町",
    "address_detail": "9番地",
    "building": "",
}
PERSON = {
    "family_name": "佐藤",
    "given_name": "一郎",
    "family_kana": "さとう",
    "given_kana": "いちろう",
    "birth_date": "1990-05-06",
    "sex": "1",
    "is_head": True,
}


@pytest.fixture
def couple(m: Any) -> tuple[Person, Person]:
    _, head, spouse = family(staff_actor(staff(m, Role.REGISTRY_CLERK)), m)
    return head, spouse


@pytest.fixture
def clerk(m: Any) -> Client:
    return api_client(token(m, Role.REGISTRY_CLERK))


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def endpoints(code: str, head: Person, spouse: Person) -> list[tuple[str, str, dict[str, Any]]]:
    """Every registry endpoint with a valid request."""
    base = f"/api/v1/municipalities/{code}"
    d = "2024-01-01"
    hh = current(head).household
    assert hh is not None
    return [
        ("get", f"{base}/residents?q=ヤマダ", {}),
        ("get", f"{base}/residents/{head.resident_code}", {}),
        ("get", f"{base}/residents/{head.resident_code}/as-of/2020-05-01", {}),
        ("get", f"{base}/households/{hh.household_no}", {}),
        (
            "post",
            f"{base}/events/move-in",
            {"event_date": d, "reported_date": d, "persons": [PERSON], "address": ADDRESS},
        ),
        (
            "post",
            f"{base}/events/move-out",
            {
                "event_date": d,
                "reported_date": d,
                "resident_codes": [head.resident_code, spouse.resident_code],
                "destination": "大阪府大阪市",
            },
        ),
        (
            "post",
            f"{base}/events/move-within",
            {
                "event_date": d,
                "reported_date": d,
                "resident_codes": [head.resident_code, spouse.resident_code],
                "address": ADDRESS,
            },
        ),
        (
            "post",
            f"{base}/events/birth",
            {
                "reported_date": d,
                "mother": spouse.resident_code,
                "child": {**PERSON, "is_head": False, "birth_date": d, "family_name": "山田"},
            },
        ),
        (
            "post",
            f"{base}/events/death",
            {"event_date": d, "reported_date": d, "resident_code": spouse.resident_code},
        ),
        (
            "post",
            f"{base}/events/household-change",
            {
                "event_date": d,
                "reported_date": d,
                "kind": "change_head",
                "head": spouse.resident_code,
                "relationships": {head.resident_code: "夫"},
            },
        ),
        (
            "post",
            f"{base}/events/name-change",
            {
                "event_date": d,
                "reported_date": d,
                "resident_code": spouse.resident_code,
                "family_name": "齋藤",
                "family_kana": "サイトウ",
            },
        ),
        (
            "post",
            f"{base}/events/correction",
            {
                "resident_code": spouse.resident_code,
                "changes": {"given_name": "華子"},
                "reason": "誤記",
            },
        ),
    ]


def call(client: Client, method: str, url: str, body: dict[str, Any]) -> Any:
    return client.get(url) if method == "get" else post(client, url, body)


def test_every_endpoint_checks_tenancy_and_role(m: Any, couple: tuple[Person, Person]) -> None:
    head, spouse = couple
    foreign = api_client(token(municipality(CHIYODA[0]), Role.REGISTRY_CLERK))
    wrong_role = api_client(token(m, Role.BENEFITS_CLERK, Role.AUDITOR))
    anonymous = Client()
    for method, url, body in endpoints(m.code, head, spouse):
        r = call(foreign, method, url, body)
        assert r.status_code == 404, url
        assert r.json()["message_en"] and r.json()["message_ja"]
        assert call(wrong_role, method, url, body).status_code == 403, url
        assert call(anonymous, method, url, body).status_code == 401, url
    assert current(head).status == Status.RESIDENT  # nothing was recorded
    assert Person.objects.filter(municipality=m).count() == 2


def test_read_endpoints_work_for_a_registry_clerk(m: Any, clerk: Client) -> None:
    for method, url, body in endpoints(m.code, *family_fresh(m))[:4]:
        r = call(clerk, method, url, body)
        assert r.status_code == 200, (url, r.content[:500])


def family_fresh(m: Any) -> tuple[Person, Person]:
    # A new couple per call keeps each event endpoint independent of the others.
    clerk = staff_actor(staff(m, Role.REGISTRY_CLERK))
    _, head, spouse = family(clerk, m)
    return head, spouse


def test_event_endpoints_each_record_on_their_own(m: Any, clerk: Client) -> None:
    for i in range(4, 12):
        head, spouse = family_fresh(m)
        _method, url, body = endpoints(m.code, head, spouse)[i]
        before = AuditEntry.objects.filter(municipality=m).count()
        r = post(clerk, url, body)
        assert r.status_code == 201, (url, r.json())
        assert AuditEntry.objects.filter(municipality=m).count() == before + 1
        event = r.json()
        assert event["kind"] and event["resident_codes"]


def test_person_endpoint_masks_mynumber_unless_purpose(
    m: Any, clerk: Client, couple: tuple[Person, Person]
) -> None:
    head, spouse = couple
    number = generate_mynumber(random.Random(11))
    services.set_mynumber(
        actor=staff_actor(staff(m, Role.REGISTRY_CLERK)),
        municipality=m,
        person=head,
        mynumber=number,
    )
    url = f"/api/v1/municipalities/{m.code}/residents/{head.resident_code}"
    body = clerk.get(url).json()
    assert body["mynumber"] == "********" + number[-4:] and not body["mynumber_revealed"]
    assert {p["resident_code"] for p in body["household"]} == {
        head.resident_code,
        spouse.resident_code,
    }
    assert [e["kind"] for e in body["events"]] == ["move_in"]
    body = clerk.get(url, {"purpose": "税務調査への回答"}).json()
    assert body["mynumber"] == number and body["mynumber_revealed"]
    entry = AuditEntry.objects.get(action="registry.mynumber.read")
    assert entry.purpose == "税務調査への回答" and number not in json.dumps(entry.details)


def test_as_of_and_household(m: Any, clerk: Client, couple: tuple[Person, Person]) -> None:
    head, spouse = couple
    services.record_move_out(
        actor=staff_actor(staff(m, Role.REGISTRY_CLERK)),
        municipality=m,
        persons=[spouse],
        event_date=date(2022, 1, 1),
        reported_date=date(2022, 1, 1),
        destination="京都府",
    )
    base = f"/api/v1/municipalities/{m.code}"
    r = clerk.get(f"{base}/residents/{spouse.resident_code}/as-of/2021-12-31")
    assert r.json()["state"]["status"] == "resident"
    r = clerk.get(f"{base}/residents/{spouse.resident_code}/as-of/2022-01-01")
    assert r.json()["state"]["status"] == "moved_out"
    assert clerk.get(f"{base}/residents/{spouse.resident_code}/as-of/2019-01-01").status_code == 404
    hh = current(head).household
    assert hh is not None
    now = clerk.get(f"{base}/households/{hh.household_no}").json()
    assert [p["resident_code"] for p in now["members"]] == [head.resident_code]
    then = clerk.get(f"{base}/households/{hh.household_no}", {"as_of": "2021-06-01"}).json()
    assert {p["resident_code"] for p in then["members"]} == {
        head.resident_code,
        spouse.resident_code,
    }
    assert then["head"] == head.resident_code


def test_bad_input_is_a_4xx_json_error(
    m: Any, clerk: Client, couple: tuple[Person, Person]
) -> None:
    head, spouse = couple
    base = f"/api/v1/municipalities/{m.code}"
    cases = [
        (
            f"{base}/events/death",
            {
                "event_date": "2024-02-30",
                "reported_date": "2024-01-01",
                "resident_code": head.resident_code,
            },
            422,
        ),
        (
            f"{base}/events/death",
            {
                "event_date": "2024-01-01",
                "reported_date": "2024-01-01",
                "resident_code": head.resident_code,
            },
            422,
        ),
        (
            f"{base}/events/move-in",
            {
                "event_date": "2024-01-01",
                "reported_date": "2024-01-01",
                "persons": [{**PERSON, "family_name": "長" * 300}],
                "address": ADDRESS,
            },
            422,
        ),
        (
            f"{base}/events/move-in",
            {
                "event_date": "2024-01-01",
                "reported_date": "2024-01-01",
                "persons": [PERSON],
                "address": {**ADDRESS, "town_name": "町" * 500},
            },
            422,
        ),
        (
            f"{base}/events/correction",
            {
                "resident_code": head.resident_code,
                "changes": {"birth_date": "not a date"},
                "reason": "x",
            },
            422,
        ),
        (
            f"{base}/events/birth",
            {
                "reported_date": timezone.localdate().isoformat(),
                "mother": spouse.resident_code,
                "child": {
                    **PERSON,
                    "is_head": False,
                    "birth_date": (timezone.localdate() + timedelta(days=1)).isoformat(),
                },
            },
            422,
        ),
        (
            f"{base}/events/move-out",
            {
                "event_date": "2024-01-01",
                "reported_date": "2024-01-01",
                "resident_codes": ["00000000000"],
                "destination": "x",
            },
            404,
        ),
        (
            f"{base}/events/household-change",
            {"event_date": "2024-01-01", "reported_date": "2024-01-01", "kind": "explode"},
            422,
        ),
    ]
    for url, body, status in cases:
        r = post(clerk, url, body)
        assert r.status_code == status, (url, r.content[:300])
        data = r.json()
        assert data["message_ja"] and data["message_en"] and data["code"]
    r = post(clerk, f"{base}/events/death", cases[1][1])
    assert r.json()["details"]["field"] == "new_head"
    assert clerk.get(f"{base}/residents").status_code == 422
    assert clerk.get(f"{base}/residents?q=・").status_code == 422
    for changes in ({"given_name": None}, {"given_name": ["a"]}, {"town_code": "12"}):
        r = post(
            clerk,
            f"{base}/events/correction",
            {"resident_code": head.resident_code, "changes": changes, "reason": "誤記"},
        )
        assert r.status_code == 422 and r.json()["details"]["field"].startswith("changes."), (
            r.json()
        )
    assert clerk.get(f"{base}/residents?resident_code=12").status_code == 422
    assert clerk.get(f"{base}/residents?birth_date=R01").status_code == 422


def test_search_endpoint(m: Any, clerk: Client, couple: tuple[Person, Person]) -> None:
    head, spouse = couple
    base = f"/api/v1/municipalities/{m.code}/residents"
    assert {p["resident_code"] for p in clerk.get(base, {"q": "ﾔﾏﾀﾞ"}).json()} == {
        head.resident_code,
        spouse.resident_code,
    }
    assert [p["resident_code"] for p in clerk.get(base, {"q": "はなこ"}).json()] == [
        spouse.resident_code
    ]
    assert [p["resident_code"] for p in clerk.get(base, {"q": "花"}).json()] == [
        spouse.resident_code
    ]
    assert clerk.get(base, {"birth_date": "1982-06-15"}).json()[0]["resident_code"] == (
        spouse.resident_code
    )
    assert len(clerk.get(base, {"address": "山下町1"}).json()) == 2
    assert clerk.get(base, {"resident_code": head.resident_code}).json()[0]["state"]["is_head"]
    entry = AuditEntry.objects.filter(action="registry.search").order_by("-seq").first()
    assert entry is not None and entry.details["resident_code"] == head.resident_code
    assert "花子" not in json.dumps(entry.details, ensure_ascii=False)


def test_openapi_lists_registry_endpoints() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    paths = schema["paths"]
    for p in [
        "/api/v1/municipalities/{code}/residents",
        "/api/v1/municipalities/{code}/residents/{resident_code}",
        "/api/v1/municipalities/{code}/residents/{resident_code}/as-of/{as_of}",
        "/api/v1/municipalities/{code}/households/{household_no}",
        *[
            f"/api/v1/municipalities/{{code}}/events/{e}"
            for e in [
                "move-in",
                "move-out",
                "move-within",
                "birth",
                "death",
                "household-change",
                "name-change",
                "correction",
            ]
        ],
    ]:
        assert p in paths, p
    assert "MoveInIn" in schema["components"]["schemas"]
