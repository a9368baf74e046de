"""Notice letter layout, read back out of the PDF (synthetic data only).

Text positions are measured with the embedded font's own ``/Widths`` (tests.pdftext), not with
the code that drew them: every line stays within the page margins however long the program
or building name, the address is the full postal address, and the QR code sits to the right
of the paragraph that says 「右のQRコード」.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from django.test import override_settings

from kiban.benefits import services
from kiban.benefits.letters import (
    MARGIN,
    Letter,
    generate_notice_letters,
    letter_pdf_bytes,
    pending_letters,
)
from kiban.benefits.testcity import generate_city
from kiban.core.actors import Actor
from kiban.core.models import Municipality
from kiban.registry import bulk
from kiban.registry.models import OPEN_END, PersonState
from tests.benefits.conftest import BASE, household_program
from tests.pdftext import Page, read_pages
from tests.registry.core_factories import ADDRESS, family

pytestmark = pytest.mark.django_db

LONG_NAME = (
    "令和八年度物価高騰対策重点支援地方創生臨時交付金を活用した低所得世帯及び"
    "子育て世帯並びに住民税均等割のみ課税世帯への特別臨時給付金"
)
LONG_BUILDING = "グランドメゾン横浜山下町パークサイドタワーレジデンス・イーストウイング三二〇一号室"
TOLERANCE = 0.5  # pt


def _within_margins(page: Page) -> None:
    for run in page.runs:
        assert run.x0 >= MARGIN - TOLERANCE, run
        assert run.x1 <= page.width - MARGIN + TOLERANCE, run
    for name, box in page.forms:
        assert MARGIN - TOLERANCE <= box.x0 and box.x1 <= page.width - MARGIN + TOLERANCE, name
        assert MARGIN - TOLERANCE <= box.y0 and box.y1 <= page.height - MARGIN, name


def _joined(page: Page) -> str:
    return "".join(r.text for r in page.runs)


@pytest.fixture
def long_letters(muni: Municipality, op: Actor, tmp_path: Path) -> list[Page]:
    """Letters of a program with a very long name, one addressed to a long building name."""
    address = replace(ADDRESS, address_detail="1丁目2番3号", building=LONG_BUILDING)
    family(op, muni, on=date(2020, 4, 1), address=address)
    generate_city(muni, households=6, base_date=BASE, seed=3)
    household_program(muni, op, name=LONG_NAME)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    with override_settings(PORTAL_BASE_URL="https://portal.example.invalid/"):
        run = generate_notice_letters(actor=op, municipality=muni, program_id="flat",
                                      out_dir=tmp_path, today=date(2026, 5, 1))  # fmt: skip
    pages = [p for f in run.files for p in read_pages(f.read_bytes())]
    assert len(pages) == run.letters >= 2
    return pages


def test_long_program_and_building_names_stay_within_the_margins(
    long_letters: list[Page],
) -> None:
    for page in long_letters:
        _within_margins(page)
        text = _joined(page)
        assert f"{LONG_NAME}のお知らせ" in text  # the whole title, wrapped rather than cut
        title = [r for r in page.runs if r.text and r.text in f"{LONG_NAME}のお知らせ"]
        assert len(title) == 2 and min(r.size for r in title) >= 10
        # Centred: the same space on either side of each title line.
        for r in title:
            assert abs((r.x0 - 0) - (page.width - r.x1)) < 1.0


def test_the_address_is_the_full_postal_address(long_letters: list[Page]) -> None:
    building = [p for p in long_letters if LONG_BUILDING in _joined(p)]
    assert len(building) == 1
    page = building[0]
    lines = [r.text for r in page.runs]
    assert "〒231-0023" in lines
    assert "神奈川県横浜市中区山下町1丁目2番3号" in _joined(page)
    assert lines.index("〒231-0023") < lines.index("神奈川県横浜市中区山下町1丁目2番3号")
    # Generated test-city towns are unknown to the postal data: the municipality is added.
    others = [p for p in long_letters if p is not page]
    for p in others:
        text = _joined(p)
        assert "神奈川県横浜市テスト町" in text
        assert text.count("神奈川県") == 2  # the address and the letterhead, never doubled


@override_settings(PORTAL_BASE_URL="https://portal.example.invalid/")
def test_the_qr_code_is_to_the_right_of_its_paragraph(muni: Municipality, op: Actor) -> None:
    program = household_program(muni, op)
    letter = Letter(7, "山田\u3000太郎", "2310023", "神奈川県横浜市中区山下町1番地", 100000, 2)
    (page,) = read_pages(letter_pdf_bytes([letter], muni, program, date(2026, 5, 1)))
    _within_margins(page)
    (qr,) = [box for name, box in page.forms if "qr" in name]
    start = next(i for i, r in enumerate(page.runs) if r.text.startswith("公金受取口座"))
    end = next(i for i, r in enumerate(page.runs) if "My Number card" in r.text)
    paragraph = page.runs[start : end + 1]
    assert any("右のQRコード" in r.text for r in paragraph)
    # Beside it: to the right, clear of every line, and level with the paragraph's top.
    assert qr.x0 > max(r.x1 for r in paragraph) + 3
    top = paragraph[0].y + paragraph[0].size
    assert abs(qr.y1 - top) < 8 * 72 / 25.4
    assert qr.y0 > paragraph[-1].y - 10 * 72 / 25.4
    # Nothing else on the page overlaps the code.
    for r in page.runs:
        if qr.y0 - 2 < r.y < qr.y1 + 2:
            assert r.x1 < qr.x0, r


def test_addresses_recorded_with_the_full_label_are_not_prefixed_twice(
    muni: Municipality, op: Actor
) -> None:
    bulk.generate(actor=op, municipality=muni, residents=40, seed=8)
    program = household_program(muni, op)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    letters = list(pending_letters(muni, program))
    assert letters
    labels = set(
        PersonState.objects.filter(municipality=muni, valid_to=OPEN_END).values_list(
            "town_name", flat=True
        )
    )
    for letter in letters:
        assert letter.address.count("神奈川県") == 1
        assert any(letter.address.startswith(label) for label in labels), letter.address
