"""Console pages for registry clerks: search, person page, event forms."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from kiban.core.actors import staff_actor
from kiban.core.models import AuditEntry, Role
from kiban.registry.models import EventKind, Person, RegistryEvent, Status
from tests.factories import CHIYODA, logged_in_client, municipality, staff
from tests.registry.core_factories import current

pytestmark = pytest.mark.django_db


def text(response: Any) -> str:
    return response.content.decode()


def test_search_by_kana_prefix_kanji_and_wareki_birth_date(
    client: Client, couple: tuple[Person, Person]
) -> None:
    head, _spouse = couple
    r = client.get("/console/registry/", {"q": "やまだ　は"})
    assert r.status_code == 200
    assert "山田\u3000花子" in text(r) and "山田\u3000太郎" not in text(r)
    r = client.get("/console/registry/", {"q": "田"})
    assert "山田\u3000花子" in text(r) and "山田\u3000太郎" in text(r)
    r = client.get("/console/registry/", {"birth_date": "昭和55年4月1日"})
    assert "山田\u3000太郎" in text(r) and "山田\u3000花子" not in text(r)
    assert f"/console/registry/persons/{head.resident_code}/" in text(r)


def test_search_errors_are_shown_next_to_fields(client: Client) -> None:
    r = client.get("/console/registry/", {"birth_date": "令和99年13月1日", "q": ""})
    assert r.status_code == 422
    body = text(r)
    assert 'class="error-summary"' in body and 'href="#id_birth_date"' in body
    assert 'id="id_birth_date_error"' in body and 'aria-invalid="true"' in body
    r = client.get("/console/registry/", {"q": " "})
    assert r.status_code == 422 and "検索条件" in text(r) and "search criterion" in text(r)


def test_person_page_shows_record_household_history_in_wareki(
    client: Client, m: Any, couple: tuple[Person, Person]
) -> None:
    head, _spouse = couple
    r = client.get(f"/console/registry/persons/{head.resident_code}/")
    assert r.status_code == 200
    body = text(r)
    assert "山田\u3000太郎" in body and "山田\u3000花子" in body  # household member
    assert "昭和55年4月1日" in body  # birth date in wareki
    assert "令和2年4月1日" in body  # move-in date in wareki
    assert "転入" in body
    assert f"/console/registry/persons/{head.resident_code}/certificate/" in body
    assert "住民票の写しを交付" in body
    assert AuditEntry.objects.filter(action="registry.read", subject_id=head.resident_code).exists()


def test_mynumber_is_masked_on_the_person_page(
    client: Client, m: Any, clerk_user: Any, couple: tuple[Person, Person]
) -> None:
    import random

    from kiban.core.identifiers import generate_mynumber
    from kiban.registry.services import set_mynumber

    head, _ = couple
    number = generate_mynumber(random.Random(3))
    set_mynumber(actor=staff_actor(clerk_user), municipality=m, person=head, mynumber=number)
    body = text(client.get(f"/console/registry/persons/{head.resident_code}/"))
    assert number not in body and f"********{number[-4:]}" in body


def test_death_form_field_errors_and_success(client: Client, couple: tuple[Person, Person]) -> None:
    head, spouse = couple
    url = f"/console/registry/persons/{head.resident_code}/death/"
    assert client.get(url).status_code == 200
    r = client.post(url, {"event_date": "令和5年3月3日", "reported_date": "令和5年3月3日"})
    assert r.status_code == 422
    body = text(r)
    assert 'id="id_new_head_error"' in body and "世帯主" in body and "head" in body
    r = client.post(url, {"event_date": "あした", "reported_date": "2023-03-03"})
    assert r.status_code == 422 and 'id="id_event_date_error"' in text(r)
    r = client.post(
        url,
        {
            "event_date": "R05.03.03",
            "reported_date": "2023-03-03",
            "new_head": spouse.resident_code,
        },
    )
    assert r.status_code == 302
    assert current(head).status == Status.DECEASED and current(spouse).is_head


def test_move_in_form_creates_household(client: Client, m: Any) -> None:
    data = {
        "event_date": "令和6年4月1日",
        "reported_date": "令和6年4月3日",
        "postcode": "231-0023",
        "town_code": "0001000",
        "town_name": "山下町",
        "address_detail": "5番地",
        "persons-TOTAL_FORMS": "3",
        "persons-INITIAL_FORMS": "0",
        "persons-MIN_NUM_FORMS": "0",
        "persons-MAX_NUM_FORMS": "10",
        "persons-0-family_name": "佐藤",
        "persons-0-given_name": "一郎",
        "persons-0-family_kana": "さとう",
        "persons-0-given_kana": "いちろう",
        "persons-0-birth_date": "平成2年5月6日",
        "persons-0-sex": "1",
        "persons-0-is_head": "on",
    }
    assert client.get("/console/registry/move-in/").status_code == 200
    bad = {**data, "persons-0-family_kana": "sato"}
    r = client.post("/console/registry/move-in/", bad)
    assert r.status_code == 422 and 'id="id_persons-0-family_kana_error"' in text(r)
    r = client.post("/console/registry/move-in/", data)
    assert r.status_code == 302
    event = RegistryEvent.objects.get(kind=EventKind.MOVE_IN)
    person = Person.objects.get(resident_code=event.details["resident_codes"][0])
    assert current(person).family_kana == "サトウ" and person.birth_date == date(1990, 5, 6)


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("move-out", {"destination": ""}, "destination"),
        ("move-within", {"postcode": "12"}, "postcode"),
        ("name-change", {"family_kana": "abc"}, "family_kana"),
        ("correction", {"field": "given_name", "value": "華子", "reason": ""}, "reason"),
        ("household-change", {"kind": "new_household"}, "head"),
        (
            "birth",
            {"birth_date": "2099-01-01", "given_name": "未来", "given_kana": "ミライ"},
            "birth_date",
        ),
    ],
)
def test_event_forms_show_service_errors_next_to_fields(
    client: Client, couple: tuple[Person, Person], path: str, data: dict[str, str], field: str
) -> None:
    _head, spouse = couple
    url = f"/console/registry/persons/{spouse.resident_code}/{path}/"
    assert client.get(url).status_code == 200
    base = {
        "event_date": "2024-01-01",
        "reported_date": "2024-01-01",
        "persons": [spouse.resident_code],
        "destination": "大阪府大阪市",
        "postcode": "2310001",
        "town_code": "0002000",
        "town_name": "新港",
        "address_detail": "1番地",
        "mode": "new",
        "head": spouse.resident_code,
        "family_name": "山田",
        "given_name": "花子",
        "family_kana": "ヤマダ",
        "given_kana": "ハナコ",
        "sex": "2",
        "kind": "new_household",
    }
    if path == "household-change":
        base.pop("head")
    r = client.post(url, {**base, **data})
    assert r.status_code == 422, text(r)[:2000]
    body = text(r)
    assert f'id="id_{field}_error"' in body
    assert f'href="#id_{field}"' in body


def test_event_forms_record_events(client: Client, couple: tuple[Person, Person]) -> None:
    head, spouse = couple
    base = f"/console/registry/persons/{spouse.resident_code}/"
    r = client.post(
        base + "name-change/",
        {
            "event_date": "2024-01-01",
            "reported_date": "2024-01-02",
            "family_name": "齋藤",
            "given_name": "花子",
            "family_kana": "サイトウ",
            "given_kana": "ハナコ",
        },
    )
    assert r.status_code == 302 and current(spouse).family_name == "齋藤"
    r = client.post(
        base + "birth/",
        {
            "reported_date": "2024-02-02",
            "birth_date": "令和6年2月1日",
            "family_name": "山田",
            "given_name": "一郎",
            "family_kana": "ヤマダ",
            "given_kana": "イチロウ",
            "sex": "1",
            "relationship": "子",
        },
    )
    assert r.status_code == 302
    assert RegistryEvent.objects.filter(kind=EventKind.BIRTH).count() == 1
    r = client.post(
        base + "correction/",
        {"field": "given_name", "value": "華子", "reason": "届書との照合"},
    )
    assert r.status_code == 302 and current(spouse).given_name == "華子"
    r = client.post(
        f"/console/registry/persons/{head.resident_code}/household-change/",
        {
            "event_date": "2024-03-01",
            "reported_date": "2024-03-01",
            "kind": "change_head",
            "head": spouse.resident_code,
            "former_head_relationship": "夫",
        },
    )
    assert r.status_code == 302 and current(spouse).is_head


def test_console_requires_registry_clerk_and_own_municipality(
    m: Any, couple: tuple[Person, Person]
) -> None:
    head, _ = couple
    other = logged_in_client(staff(m, Role.BENEFITS_CLERK))
    assert other.get("/console/registry/").status_code == 403
    assert other.get(f"/console/registry/persons/{head.resident_code}/").status_code == 403
    foreign = logged_in_client(staff(municipality(CHIYODA[0]), Role.REGISTRY_CLERK))
    assert foreign.get(f"/console/registry/persons/{head.resident_code}/").status_code == 404
    r = foreign.post(
        f"/console/registry/persons/{head.resident_code}/death/",
        {"event_date": "2024-01-01", "reported_date": "2024-01-01"},
    )
    assert r.status_code == 404 and current(head).status == Status.RESIDENT
    anonymous = Client()
    assert anonymous.get("/console/registry/").status_code == 302


def test_required_fields_are_reported_in_both_languages(
    client: Client, clerk_user: Any, couple: tuple[Person, Person]
) -> None:
    head, _ = couple
    r = client.post(f"/console/registry/persons/{head.resident_code}/move-out/", {})
    body = text(r)
    assert r.status_code == 422
    for field in ("event_date", "reported_date", "persons", "destination"):
        assert f'href="#id_{field}"' in body
    assert "入力してください。 / This field is required." in body
    page = text(client.get(f"/console/registry/persons/{head.resident_code}/"))
    assert clerk_user.username in page  # who recorded the move-in
