"""What a 住民票の写し says: the text read back out of the signed PDF (synthetic data only).

The request option 「世帯主の氏名と続柄」 (``include_relationship``) decides whether the head of
household's name is printed; the address is the full address (都道府県 + 市区町村 + 町字) whether
the record was generated in bulk (full town label stored) or recorded by a clerk (only the
町字 stored); nothing runs past the page margins; the footer carries no Markdown.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from kiban.core.actors import operator_actor
from kiban.core.models import Role
from kiban.registry import bulk, certificates
from kiban.registry.models import OPEN_END, Person, PersonState
from kiban.registry.towns import towns_for
from tests.factories import actor_for, municipality
from tests.pdftext import Page, read_pages
from tests.registry.core_factories import ADDRESS, family

pytestmark = pytest.mark.django_db
OP = operator_actor("test")
MM = 72 / 25.4
MARGIN = 18 * MM  # the certificate's left and right margins


@pytest.fixture
def generated_head() -> PersonState:
    """The head of a multi-person household from bulk generation (full town label stored)."""
    m = municipality()
    bulk.generate(actor=OP, municipality=m, residents=60, seed=11)
    heads = PersonState.objects.filter(
        municipality=m, is_head=True, valid_to=OPEN_END, status="resident"
    ).select_related("person", "household")
    for s in heads.order_by("id"):
        members = PersonState.objects.filter(
            municipality=m, household=s.household, valid_to=OPEN_END, status="resident"
        ).count()
        if members >= 2:
            return s
    raise AssertionError("no multi-person household")


def _issue(
    person: Person, *, household: bool = False, include_relationship: bool = False
) -> tuple[bytes, Page]:
    m = municipality()
    pdf = certificates.issue_certificate(
        actor=actor_for(m, Role.REGISTRY_CLERK),
        municipality=m,
        resident_code=person.resident_code,
        household=household,
        include_relationship=include_relationship,
    ).pdf
    assert certificates.verify_certificate(pdf).valid  # the signature still holds
    pages = read_pages(pdf)
    assert len(pages) == 1
    return pdf, pages[0]


def _address(page: Page) -> tuple[str, float]:
    """The 住所 value as printed (continuation lines joined) and its smallest size."""
    i = next(i for i, r in enumerate(page.runs) if r.text.startswith("住所\u3000"))
    label = page.runs[i]
    if label.text != "住所\u3000":  # label and value drawn as one run
        return label.text.removeprefix("住所\u3000"), label.size
    rows = [page.runs[i + 1]]
    for r in page.runs[i + 2 :]:  # continuation rows start under the value
        if abs(r.x0 - rows[0].x0) > 0.5 or r.text.startswith(("世帯主", "本籍")):
            break
        rows.append(r)
    assert rows[0].y == label.y
    return "".join(r.text for r in rows), min(r.size for r in rows)


def _head_lines(page: Page) -> list[str]:
    return [r.text for r in page.runs if r.text.startswith("世帯主")]


@pytest.mark.parametrize("household", [False, True])
def test_head_of_household_printed_only_when_requested(
    generated_head: PersonState, household: bool
) -> None:
    # A member who is not the head, so the head's name appears only through the 世帯主 line.
    member = (
        PersonState.objects.filter(
            household=generated_head.household, valid_to=OPEN_END, status="resident"
        )
        .exclude(pk=generated_head.pk)
        .select_related("person")
        .first()
    )
    assert member is not None
    head_name = f"{generated_head.family_name}\u3000{generated_head.given_name}"

    _, without = _issue(member.person, household=household)
    assert _head_lines(without) == []
    assert "世帯主" not in without.text and "続柄" not in without.text
    if not household:
        assert head_name not in without.text

    _, with_it = _issue(member.person, household=household, include_relationship=True)
    assert _head_lines(with_it) == [f"世帯主\u3000{head_name}"]
    assert f"続柄\u3000{member.relationship}" in with_it.text


def test_generated_record_shows_the_full_address_once(generated_head: PersonState) -> None:
    s = generated_head
    town = next(t for t in towns_for("141003") if t.machiaza_id == s.town_code)
    expected = f"{town.prefecture}{town.city}{town.name}{s.address_detail}"
    _, page = _issue(s.person)
    address, _ = _address(page)
    assert address == (f"{expected}\u3000{s.building}" if s.building else expected)


@pytest.mark.parametrize(
    "typed",
    ["山下町", "中区山下町", "横浜市中区山下町", "神奈川県横浜市中区山下町"],
)
def test_recorded_event_shows_the_full_address(typed: str) -> None:
    """A clerk typed only part of the town name: the certificate completes it, once."""
    m = municipality()
    _, head, _ = family(OP, m, on=date(2020, 4, 1), address=replace(ADDRESS, town_name=typed))
    _, page = _issue(head, household=True)
    assert _address(page)[0] == "神奈川県横浜市中区山下町1番地"


def test_long_address_stays_within_the_margins() -> None:
    m = municipality()
    building = "グランドメゾン横浜山下町パークサイドタワーレジデンス・イーストウイング三二〇一号室"
    address = replace(ADDRESS, address_detail="1丁目2番3号", building=building)
    _, head, _ = family(OP, m, on=date(2020, 4, 1), address=address)
    _, page = _issue(head, household=True, include_relationship=True)
    for run in page.runs:
        assert run.x0 >= MARGIN - 0.5, run
        assert run.x1 <= page.width - MARGIN + 0.5, run
    printed, size = _address(page)
    assert printed == f"神奈川県横浜市中区山下町1丁目2番3号\u3000{building}"
    assert size >= 7


def test_footer_names_the_command_without_markdown(generated_head: PersonState) -> None:
    _, page = _issue(generated_head.person)
    assert "`" not in page.text
    footer = [r for r in page.runs if "verify-certificate" in r.text]
    assert len(footer) == 1 and "kiban registry verify-certificate" in footer[0].text
    assert footer[0].x1 <= page.width - MARGIN
