"""支援措置: protected persons are hidden from unauthorised staff and every access is audited."""

from __future__ import annotations

from typing import Any

import pytest

from kiban.core.actors import staff_actor
from kiban.core.errors import Forbidden, NotFound
from kiban.core.models import AuditEntry, Role
from kiban.registry import queries, services
from kiban.registry.models import Person
from kiban.registry.queries import PROTECTED_PURPOSE
from tests.factories import api_client, logged_in_client, municipality, staff, token
from tests.registry.core_factories import current, family

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(m: Any) -> Any:
    return staff_actor(staff(m, Role.REGISTRY_CLERK))


@pytest.fixture
def protected(m: Any, clerk: Any) -> tuple[Person, Person]:
    """(protected spouse, unprotected head) of one household."""
    _, head, spouse = family(clerk, m)
    services.set_protection(
        actor=clerk, municipality=m, person=spouse, protected=True, reason="DV支援措置申出書受理"
    )
    return spouse, head


def access_entries(person: Person) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            action="registry.protected_access", subject_id=person.resident_code
        ).order_by("seq")
    )


def codes(states: list[Any]) -> set[str]:
    return {s.person.resident_code for s in states}


def test_search_hides_protected_person_without_authorisation(
    m: Any, clerk: Any, protected: tuple[Person, Person]
) -> None:
    spouse, head = protected
    for criteria in (
        {"text": "ヤマダ"},
        {"text": "花子"},
        {"resident_code": spouse.resident_code},
        {"address": "山下町"},
    ):
        found = codes(queries.search(actor=clerk, municipality=m, **criteria))  # type: ignore[arg-type]
        assert spouse.resident_code not in found, criteria
    assert head.resident_code in codes(queries.search(actor=clerk, municipality=m, text="ヤマダ"))
    # A purpose other than support measures does not unlock it.
    found = codes(queries.search(actor=clerk, municipality=m, text="ヤマダ", purpose="調査"))
    assert spouse.resident_code not in found
    assert access_entries(spouse) == []


def test_authorised_search_shows_and_audits_each_protected_hit(
    m: Any, clerk: Any, protected: tuple[Person, Person]
) -> None:
    spouse, head = protected
    found = queries.search(actor=clerk, municipality=m, text="ヤマダ", purpose=PROTECTED_PURPOSE)
    assert codes(found) == {spouse.resident_code, head.resident_code}
    entries = access_entries(spouse)
    assert len(entries) == 1
    assert entries[0].purpose == PROTECTED_PURPOSE and entries[0].details["via"] == "search"
    assert entries[0].actor_id == clerk.id
    assert access_entries(head) == []


def test_reads_of_protected_person(m: Any, clerk: Any, protected: tuple[Person, Person]) -> None:
    spouse, head = protected
    with pytest.raises(NotFound):
        queries.get_person(actor=clerk, municipality=m, resident_code=spouse.resident_code)
    record = queries.get_person(
        actor=clerk, municipality=m, resident_code=spouse.resident_code, purpose=PROTECTED_PURPOSE
    )
    assert record.person == spouse
    assert [e.details["via"] for e in access_entries(spouse)] == ["read"]
    read = AuditEntry.objects.get(action="registry.read", subject_id=spouse.resident_code)
    assert read.purpose == PROTECTED_PURPOSE
    # The head's household view leaves the protected member out for unauthorised reads.
    head_record = queries.get_person(actor=clerk, municipality=m, resident_code=head.resident_code)
    assert codes(head_record.members) == {head.resident_code}
    hh = current(head).household
    assert hh is not None
    household = queries.get_household(actor=clerk, municipality=m, household_no=hh.household_no)
    assert codes(household.members) == {head.resident_code}
    household = queries.get_household(
        actor=clerk, municipality=m, household_no=hh.household_no, purpose=PROTECTED_PURPOSE
    )
    assert codes(household.members) == {head.resident_code, spouse.resident_code}
    assert [e.details["via"] for e in access_entries(spouse)] == ["read", "household"]


def test_other_roles_cannot_use_the_purpose(m: Any, protected: tuple[Person, Person]) -> None:
    spouse, _ = protected
    benefits = staff_actor(staff(m, Role.BENEFITS_CLERK))
    with pytest.raises(Forbidden):
        queries.search(actor=benefits, municipality=m, text="ヤマダ", purpose=PROTECTED_PURPOSE)
    admin = staff_actor(staff(m, Role.MUNICIPALITY_ADMIN))
    with pytest.raises(Forbidden):
        queries.get_person(
            actor=admin,
            municipality=m,
            resident_code=spouse.resident_code,
            purpose=PROTECTED_PURPOSE,
        )


def test_api_and_console_respect_protection(m: Any, protected: tuple[Person, Person]) -> None:
    spouse, _ = protected
    client = api_client(token(m, Role.REGISTRY_CLERK))
    base = f"/api/v1/municipalities/{m.code}/residents"
    assert spouse.resident_code not in client.get(base, {"q": "ヤマダ"}).content.decode()
    assert client.get(f"{base}/{spouse.resident_code}").status_code == 404
    r = client.get(f"{base}/{spouse.resident_code}", {"purpose": PROTECTED_PURPOSE})
    assert r.status_code == 200 and r.json()["protected"]
    console = logged_in_client(staff(m, Role.REGISTRY_CLERK))
    page = console.get("/console/registry/", {"q": "ヤマダ"}).content.decode()
    assert "山田\u3000花子" not in page and "山田\u3000太郎" in page
    page = console.get("/console/registry/", {"q": "ヤマダ", "support_measure": "on"}).content
    assert "山田\u3000花子" in page.decode() and "支援措置" in page.decode()
    assert console.get(f"/console/registry/persons/{spouse.resident_code}/").status_code == 404
    r = console.get(
        f"/console/registry/persons/{spouse.resident_code}/", {"purpose": PROTECTED_PURPOSE}
    )
    assert r.status_code == 200 and "この閲覧は記録されています" in r.content.decode()
    assert len(access_entries(spouse)) >= 3


def test_protection_can_be_lifted(m: Any, clerk: Any, protected: tuple[Person, Person]) -> None:
    spouse, _ = protected
    services.set_protection(
        actor=clerk, municipality=m, person=spouse, protected=False, reason="措置期間終了"
    )
    assert spouse.resident_code in codes(queries.search(actor=clerk, municipality=m, text="花子"))
    assert AuditEntry.objects.filter(action="registry.protection.unset").count() == 1


def test_protection_endpoint(m: Any, clerk: Any) -> None:
    _, head, _ = family(clerk, m)
    url = f"/api/v1/municipalities/{m.code}/residents/{head.resident_code}/protection"
    body = {"protected": True, "reason": "支援措置申出書受理"}
    from tests.registry.test_api import post

    assert post(api_client(token(m, Role.BENEFITS_CLERK)), url, body).status_code == 403
    other = municipality("131016")
    assert post(api_client(token(other, Role.REGISTRY_CLERK)), url, body).status_code == 404
    assert (
        post(api_client(token(m, Role.REGISTRY_CLERK)), url, {**body, "reason": ""}).status_code
        == 422
    )
    r = post(api_client(token(m, Role.MUNICIPALITY_ADMIN)), url, body)
    assert r.status_code == 200 and r.json()["protected"]
    head.refresh_from_db()
    assert head.protected
