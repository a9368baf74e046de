"""Notice letters for payees without an account."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from django.test import override_settings

from kiban.benefits import services
from kiban.benefits.letters import application_url, generate_notice_letters
from kiban.benefits.testcity import generate_city
from kiban.core.actors import Actor
from kiban.core.models import Municipality
from tests.benefits.conftest import BASE, household_program


@pytest.mark.django_db
@override_settings(PORTAL_BASE_URL="https://portal.example.invalid/")
def test_one_letter_per_household_without_account_in_batched_files(
    muni: Municipality, op: Actor, tmp_path: Path
) -> None:
    generate_city(muni, households=40, base_date=BASE, seed=6)
    program = household_program(muni, op)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    services.generate_demo_accounts(actor=op, municipality=muni, share=0.5)
    expected = next(
        r.count for r in services.program_status(actor=op, municipality=muni, program_id="flat")
        if r.state == "no_account"
    )  # fmt: skip
    assert expected > 0
    run = generate_notice_letters(actor=op, municipality=muni, program_id="flat",
                                  out_dir=tmp_path, per_file=7, today=date(2026, 5, 1))  # fmt: skip
    assert run.letters == expected
    assert len(run.files) == -(-expected // 7)
    pages = [len(re.findall(rb"/Type /Page\b(?!s)", f.read_bytes())) for f in run.files]
    assert sum(pages) == expected and all(n == 7 for n in pages[:-1])
    assert application_url(muni, program) == (
        f"https://portal.example.invalid/benefits/{muni.code}/flat/account/"
    )
