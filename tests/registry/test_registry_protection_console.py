"""Console: setting and lifting 支援措置 (DV/stalking support measures) on a person's page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kiban.core.actors import staff_actor
from kiban.core.models import AuditEntry, Role
from kiban.registry import services
from kiban.registry.models import Person
from kiban.registry.queries import PROTECTED_PURPOSE
from tests.factories import CHIYODA, logged_in_client, municipality, staff

pytestmark = pytest.mark.django_db

REASON = "支援措置申出書を受理（受付番号 R8-0001）"


def text(response: Any) -> str:
    return response.content.decode()


def protection_url(person: Person) -> str:
    return f"/console/registry/persons/{person.resident_code}/protection/"


def entries(action: str, person: Person) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, subject_id=person.resident_code))


def protect(m: Any, clerk_user: Any, person: Person) -> None:
    services.set_protection(
        actor=staff_actor(clerk_user), municipality=m, person=person, protected=True, reason=REASON
    )


def test_person_page_offers_the_form_with_label_and_csrf(
    client: Client, couple: tuple[Person, Person]
) -> None:
    _head, spouse = couple
    body = text(client.get(f"/console/registry/persons/{spouse.resident_code}/"))
    assert f'action="{protection_url(spouse)}"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert '<label for="id_reason">設定の理由' in body
    assert 'name="protected" value="1"' in body
    assert "支援措置対象" not in body  # no badge while unprotected


def test_setting_hides_the_person_from_plain_search_and_audits_once(
    client: Client, couple: tuple[Person, Person]
) -> None:
    head, spouse = couple
    r = client.post(protection_url(spouse), {"protected": "1", "reason": REASON})
    assert r.status_code == 302
    assert r["Location"] == (
        f"/console/registry/persons/{spouse.resident_code}/?purpose={PROTECTED_PURPOSE}"
    )
    spouse.refresh_from_db()
    assert spouse.protected
    [entry] = entries("registry.protection.set", spouse)
    assert entry.details["reason"] == REASON
    # Under the purpose her page shows the message, the badge and the lift form.
    page = text(client.get(r["Location"]))
    assert "支援措置を設定しました" in page and "支援措置対象" in page
    assert 'name="protected" value="0"' in page and "解除の理由" in page
    # Plain search and the page without the support-measure purpose no longer find her.
    page = text(client.get("/console/registry/", {"q": "ヤマダ"}))
    assert "山田\u3000太郎" in page and "山田\u3000花子" not in page
    assert client.get(f"/console/registry/persons/{spouse.resident_code}/").status_code == 404
    # The head's page no longer lists her as a member.
    page = text(client.get(f"/console/registry/persons/{head.resident_code}/"))
    assert "山田\u3000花子" not in page


def test_missing_or_too_long_reason_is_shown_next_to_the_field(
    client: Client, couple: tuple[Person, Person]
) -> None:
    _head, spouse = couple
    for reason in ("", "   ", "理" * 201):
        r = client.post(protection_url(spouse), {"protected": "1", "reason": reason})
        assert r.status_code == 422, reason
        body = text(r)
        assert 'class="error-summary"' in body and 'href="#id_reason"' in body
        assert 'id="id_reason_error"' in body and 'aria-invalid="true"' in body
        assert "This field is required." in body or "at most 200" in body
    spouse.refresh_from_db()
    assert not spouse.protected
    assert entries("registry.protection.set", spouse) == []


def test_lifting_needs_the_support_measure_purpose(
    client: Client, m: Any, clerk_user: Any, couple: tuple[Person, Person]
) -> None:
    _head, spouse = couple
    protect(m, clerk_user, spouse)
    lift = {"protected": "0", "reason": "措置期間の終了"}
    # Without the purpose the protected person is as good as missing, for lifting too.
    assert client.post(protection_url(spouse), lift).status_code == 404
    spouse.refresh_from_db()
    assert spouse.protected
    r = client.post(protection_url(spouse), {**lift, "purpose": PROTECTED_PURPOSE})
    assert r.status_code == 302
    assert r["Location"] == f"/console/registry/persons/{spouse.resident_code}/"
    spouse.refresh_from_db()
    assert not spouse.protected
    [entry] = entries("registry.protection.unset", spouse)
    assert entry.details["reason"] == "措置期間の終了"
    assert "山田\u3000花子" in text(client.get("/console/registry/", {"q": "ハナコ"}))


def test_a_stale_form_is_refused_with_a_message(
    client: Client, m: Any, clerk_user: Any, couple: tuple[Person, Person]
) -> None:
    _head, spouse = couple
    protect(m, clerk_user, spouse)  # someone else set it after the page was opened
    r = client.post(
        protection_url(spouse),
        {"protected": "1", "reason": REASON, "purpose": PROTECTED_PURPOSE},
    )
    assert r.status_code == 422
    body = text(r)
    assert "すでに支援措置が設定されています" in body and "already under a support measure" in body
    assert len(entries("registry.protection.set", spouse)) == 1


@pytest.mark.parametrize(
    "roles, expected",
    [
        ((Role.REGISTRY_CLERK,), 302),
        ((Role.MUNICIPALITY_ADMIN, Role.REGISTRY_CLERK), 302),
        # The service accepts an admin, but reading the person needs the clerk role.
        ((Role.MUNICIPALITY_ADMIN,), 403),
        ((Role.BENEFITS_CLERK,), 403),
        ((Role.AUDITOR,), 403),
        ((Role.PROCEDURES_REVIEWER,), 403),
    ],
)
def test_only_staff_with_the_role_may_set_it(
    m: Any, couple: tuple[Person, Person], roles: tuple[str, ...], expected: int
) -> None:
    _head, spouse = couple
    c = logged_in_client(staff(m, *roles))
    c.raise_request_exception = False
    assert c.get(protection_url(spouse)).status_code == (200 if expected == 302 else 403)
    r = c.post(protection_url(spouse), {"protected": "1", "reason": REASON})
    assert r.status_code == expected
    spouse.refresh_from_db()
    assert spouse.protected is (expected == 302)
    assert len(entries("registry.protection.set", spouse)) == (1 if expected == 302 else 0)


def test_another_municipality_cannot_reach_the_person(
    couple: tuple[Person, Person],
) -> None:
    _head, spouse = couple
    other = logged_in_client(staff(municipality(CHIYODA[0]), Role.REGISTRY_CLERK))
    r = other.post(protection_url(spouse), {"protected": "1", "reason": REASON})
    assert r.status_code == 404
    spouse.refresh_from_db()
    assert not spouse.protected


def test_form_and_messages_in_english(client: Client, couple: tuple[Person, Person]) -> None:
    _head, spouse = couple
    client.post("/i18n/setlang/", {"language": "en", "next": "/console/"})
    body = text(client.get(f"/console/registry/persons/{spouse.resident_code}/"))
    assert "Reason for setting" in body and "Set support measure" in body
    r = client.post(protection_url(spouse), {"protected": "1", "reason": REASON}, follow=True)
    assert "Support measure set." in text(r)
