"""Console: a household's page (now and as of a date, with its history) and 世帯番号 search."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client

from kiban.core.actors import Actor, staff_actor
from kiban.core.models import AuditEntry, Role
from kiban.registry import queries, services
from kiban.registry.models import EventKind, Household, Person
from kiban.registry.queries import PROTECTED_PURPOSE
from tests.factories import CHIYODA, logged_in_client, municipality, staff
from tests.registry.core_factories import current, family

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(clerk_user: Any) -> Actor:
    return staff_actor(clerk_user)


@pytest.fixture
def couple(m: Any, clerk: Actor) -> tuple[Person, Person, Household]:
    _, head, spouse = family(clerk, m)
    hh = current(head).household
    assert hh is not None
    return head, spouse, hh


def text(response: Any) -> str:
    return response.content.decode()


def url(hh: Household) -> str:
    return f"/console/registry/households/{hh.household_no}/"


def spouse_leaves(m: Any, clerk: Actor, spouse: Person, on: date) -> Household:
    """The spouse forms her own household at the same address on ``on``."""
    services.record_household_change(
        actor=clerk,
        municipality=m,
        kind="new_household",
        event_date=on,
        reported_date=on,
        persons=[spouse],
        head=spouse,
    )
    new = current(spouse).household
    assert new is not None
    return new


def test_household_page_shows_head_members_address_and_history(
    client: Client, couple: tuple[Person, Person, Household]
) -> None:
    head, spouse, hh = couple
    r = client.get(url(hh))
    assert r.status_code == 200
    body = text(r)
    assert hh.household_no in body
    assert "山下町1番地" in body and "〒231-0023" in body
    assert "<td>妻</td>" in body  # 続柄 of the spouse
    for person in (head, spouse):
        assert f'href="/console/registry/persons/{person.resident_code}/"' in body
    assert "昭和55年4月1日" in body  # birth date in wareki
    # The move-in that formed the household, with both persons, in the history.
    assert "転入" in body and "令和2年4月1日" in body
    read = AuditEntry.objects.get(action="registry.household.read", subject_id=hh.household_no)
    assert read.details["as_of"] == ""


def test_reachable_from_the_person_page_and_search(
    client: Client, couple: tuple[Person, Person, Household]
) -> None:
    head, _spouse, hh = couple
    assert f'href="{url(hh)}"' in text(
        client.get(f"/console/registry/persons/{head.resident_code}/")
    )
    assert f'href="{url(hh)}"' in text(client.get("/console/registry/", {"q": "ヤマダ"}))


def test_as_of_shows_the_household_as_it_was(
    client: Client, m: Any, clerk: Actor, couple: tuple[Person, Person, Household]
) -> None:
    _head, spouse, hh = couple
    own = spouse_leaves(m, clerk, spouse, date(2023, 1, 10))
    now = text(client.get(url(hh)))
    assert "山田\u3000太郎" in now and "山田\u3000花子" in text(client.get(url(own)))
    # Now she is in the history (she left) but not among the members.
    members_now = now.split('id="members-title"')[1].split('id="events-title"')[0]
    assert "山田\u3000花子" not in members_now
    assert "世帯分離" in now
    for as_of in ("2021-06-01", "令和3年6月1日", "R03.06.01"):
        r = client.get(url(hh), {"as_of": as_of})
        assert r.status_code == 200, as_of
        members = text(r).split('id="members-title"')[1].split('id="events-title"')[0]
        assert "山田\u3000太郎" in members and "山田\u3000花子" in members, as_of
        assert "令和3年6月1日時点の世帯" in text(r)
    before = text(client.get(url(hh), {"as_of": "2019-12-31"}))
    assert "この日に住民である世帯員はいません" in before
    assert AuditEntry.objects.filter(
        action="registry.household.read", subject_id=hh.household_no, details__as_of="2021-06-01"
    ).exists()


@pytest.mark.parametrize("bad", ["2026-02-30", "令和99年13月1日", "x" * 500, "ｘ"])
def test_malformed_as_of_is_a_field_error_never_a_500(
    client: Client, couple: tuple[Person, Person, Household], bad: str
) -> None:
    _head, _spouse, hh = couple
    r = client.get(url(hh), {"as_of": bad})
    assert r.status_code == 422
    body = text(r)
    assert 'class="error-summary"' in body and 'href="#id_as_of"' in body
    assert 'id="id_as_of_error"' in body
    assert "現在の世帯" in body and "山田\u3000太郎" in body  # the current household instead


def test_another_municipality_or_unknown_household_is_404(
    couple: tuple[Person, Person, Household], client: Client
) -> None:
    _head, _spouse, hh = couple
    other = logged_in_client(staff(municipality(CHIYODA[0]), Role.REGISTRY_CLERK))
    assert other.get(url(hh)).status_code == 404
    assert client.get("/console/registry/households/0000000000/").status_code == 404
    benefits = logged_in_client(staff(hh.municipality, Role.BENEFITS_CLERK))
    assert benefits.get(url(hh)).status_code == 403


def test_protected_member_is_hidden_unless_the_purpose_is_stated(
    client: Client, m: Any, clerk: Actor, couple: tuple[Person, Person, Household]
) -> None:
    _head, spouse, hh = couple
    services.record_name_change(
        actor=clerk,
        municipality=m,
        person=spouse,
        event_date=date(2022, 5, 1),
        reported_date=date(2022, 5, 1),
        given_name="花江",
        given_kana="ハナエ",
    )
    services.set_protection(
        actor=clerk, municipality=m, person=spouse, protected=True, reason="DV支援措置申出書受理"
    )
    body = text(client.get(url(hh)))
    assert "山田\u3000太郎" in body
    assert "花江" not in body and "花子" not in body and spouse.resident_code not in body
    assert "氏名変更" not in body  # an event about her alone is left out
    assert "転入" in body  # the joint move-in stays, naming only the head
    assert not AuditEntry.objects.filter(
        action="registry.protected_access", subject_id=spouse.resident_code
    ).exists()
    r = client.get(url(hh), {"purpose": PROTECTED_PURPOSE})
    body = text(r)
    assert "山田\u3000花江" in body and "氏名変更" in body and "支援措置" in body
    assert f"/console/registry/persons/{spouse.resident_code}/?purpose={PROTECTED_PURPOSE}" in body
    vias = set(
        AuditEntry.objects.filter(
            action="registry.protected_access", subject_id=spouse.resident_code
        ).values_list("details__via", flat=True)
    )
    assert vias == {"household", "household_history"}


def test_household_search_by_number(
    client: Client, couple: tuple[Person, Person, Household]
) -> None:
    _head, _spouse, hh = couple
    full_width = hh.household_no.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    r = client.get("/console/registry/households/", {"household_no": full_width})
    assert r.status_code == 302 and r["Location"] == url(hh)
    r = client.get("/console/registry/households/", {"household_no": "9999999999"})
    assert r.status_code == 422
    body = text(r)
    assert 'href="#id_household_no"' in body and 'id="id_household_no_error"' in body
    assert "見つかりませんでした" in body and "No household has this number" in body
    r = client.get("/console/registry/households/", {"household_no": ""})
    assert r.status_code == 422 and "This field is required." in text(r)
    assert client.get("/console/registry/households/").status_code == 200
    searches = AuditEntry.objects.filter(action="registry.household.search")
    assert sorted(e.details["found"] for e in searches) == [False, True]


def test_household_events_include_the_event_that_ended_membership(
    m: Any, clerk: Actor, couple: tuple[Person, Person, Household]
) -> None:
    _head, spouse, hh = couple
    own = spouse_leaves(m, clerk, spouse, date(2023, 1, 10))
    services.record_move_out(
        actor=clerk,
        municipality=m,
        persons=[spouse],
        event_date=date(2024, 3, 1),
        reported_date=date(2024, 2, 20),
        destination="東京都千代田区",
    )
    kinds = [e.kind for e in queries.household_events(hh)]
    assert kinds == [EventKind.MOVE_IN, EventKind.HOUSEHOLD_CHANGE]
    # Her own household: formed by the change, ended by the move out; not the move-in.
    kinds = [e.kind for e in queries.household_events(own)]
    assert kinds == [EventKind.HOUSEHOLD_CHANGE, EventKind.MOVE_OUT]
