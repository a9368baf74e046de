"""Console: dashboard, four-eyes approval of batches, account registration, tenancy."""

from __future__ import annotations

import hashlib

import pytest
from django.utils import timezone

from kiban.benefits import services
from kiban.benefits.models import BankAccount, Payment, PaymentBatch
from kiban.benefits.testcity import generate_city
from kiban.core.actors import Actor
from kiban.core.models import AuditEntry, Municipality
from kiban.registry.models import OPEN_END, PersonState
from tests import factories
from tests.benefits.conftest import BASE, TRANSFER, household_program

pytestmark = pytest.mark.django_db


@pytest.fixture
def program(muni: Municipality, op: Actor) -> str:
    generate_city(muni, households=80, base_date=BASE, seed=4)
    household_program(muni, op)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    services.generate_demo_accounts(actor=op, municipality=muni, share=0.7)
    return "flat"


def test_dashboard_shows_states_charts_and_action_list(muni: Municipality, program: str) -> None:
    client = factories.logged_in_client(factories.staff(muni, "benefits_clerk"))
    page = client.get("/console/benefits/flat/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="chart-state"' in html and 'id="chart-town"' in html and "<rect" in html
    no_account = next(
        r for r in services.program_status(actor=services_actor(muni), municipality=muni,
                                           program_id="flat") if r.state == "no_account"
    )  # fmt: skip
    assert no_account.count > 0
    assert f"{no_account.count:,}" in html
    assert "/console/benefits/accounts/" in html
    assert client.get("/console/benefits/").status_code == 200


def services_actor(m: Municipality) -> Actor:
    return factories.actor_for(m, "benefits_clerk")


def test_four_eyes_rule(muni: Municipality, program: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezone, "localdate", lambda *a: TRANSFER.replace(day=1))
    alice = factories.staff(muni, "benefits_clerk", username="alice")
    bob = factories.staff(muni, "benefits_clerk", username="bob")
    a, b = factories.logged_in_client(alice), factories.logged_in_client(bob)
    r = a.post("/console/benefits/flat/prepare/", {"transfer_date": TRANSFER.isoformat()})
    assert r.status_code == 302, r.content.decode()[:500]
    batch = PaymentBatch.objects.get()
    assert batch.state == "prepared" and batch.count > 0
    assert set(Payment.objects.filter(batch=batch).values_list("state", flat=True)) == {"pending"}
    # No file before approval, for anyone.
    assert a.get(f"/console/benefits/batches/{batch.pk}/download/").status_code == 403
    assert b.get(f"/console/benefits/batches/{batch.pk}/download/").status_code == 403
    # The preparer cannot approve.
    assert a.post(f"/console/benefits/batches/{batch.pk}/approve/").status_code == 403
    batch.refresh_from_db()
    assert batch.state == "prepared"
    # A second clerk approves; then the file downloads, identical for both.
    assert b.post(f"/console/benefits/batches/{batch.pk}/approve/").status_code == 302
    batch.refresh_from_db()
    assert batch.state == "approved" and batch.approved_by == f"staff:{bob.pk}"
    got = a.get(f"/console/benefits/batches/{batch.pk}/download/")
    assert got.status_code == 200 and got.content[:3] == b"121"
    assert len(got.content) == 122 * (batch.count + 3)
    assert hashlib.sha256(got.content).hexdigest() == batch.file_sha256
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "benefits.batch.prepared",
        "benefits.batch.approved",
        "benefits.batch.downloaded",
    } <= actions
    # Nothing left to put in another batch.
    a.post("/console/benefits/flat/prepare/", {"transfer_date": TRANSFER.isoformat()})
    assert PaymentBatch.objects.count() == 1


def test_weekend_transfer_date_is_refused_in_the_form(
    muni: Municipality, program: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timezone, "localdate", lambda *a: TRANSFER.replace(day=1))
    client = factories.logged_in_client(factories.staff(muni, "benefits_clerk"))
    r = client.post("/console/benefits/flat/prepare/", {"transfer_date": "2027-02-06"})
    assert r.status_code == 422
    html = r.content.decode()
    assert "2027-02-08" in html and "error-summary" in html
    assert not PaymentBatch.objects.exists()


def test_clerk_registers_an_account_with_errors_shown(muni: Municipality, program: str) -> None:
    state = (
        PersonState.objects.filter(municipality=muni, valid_to=OPEN_END, status="resident")
        .exclude(person__bank_account__isnull=False)
        .first()
    )
    assert state is not None
    client = factories.logged_in_client(factories.staff(muni, "benefits_clerk"))
    url = f"/console/benefits/accounts/{state.person_id}/"
    assert client.get(url).status_code == 200
    bad = client.post(url, {"bank_code": "0001", "branch_code": "999", "account_type": "1",
                            "account_number": "1234567", "holder_kana": "山田"})  # fmt: skip
    assert bad.status_code == 422
    assert 'href="#id_branch_code"' in bad.content.decode()
    ok = client.post(url, {"bank_code": "0001", "branch_code": "001", "account_type": "1",
                           "account_number": "1234567",
                           "holder_kana": f"{state.family_kana} {state.given_kana}"})  # fmt: skip
    assert ok.status_code == 302
    assert BankAccount.objects.filter(person_id=state.person_id, registered_via="console").exists()


def test_console_tenancy_and_roles(muni: Municipality, program: str, op: Actor) -> None:
    services.prepare_batch(actor=factories.actor_for(muni, "benefits_clerk"), municipality=muni,
                           program_id="flat", transfer_date=TRANSFER, today=TRANSFER)  # fmt: skip
    batch = PaymentBatch.objects.get()
    chiyoda = factories.municipality(factories.CHIYODA[0])
    other = factories.logged_in_client(factories.staff(chiyoda, "benefits_clerk"))
    assert other.get("/console/benefits/flat/").status_code == 404
    assert other.post(f"/console/benefits/batches/{batch.pk}/approve/").status_code == 404
    assert other.get(f"/console/benefits/batches/{batch.pk}/download/").status_code == 404
    person_id = PersonState.objects.filter(municipality=muni).values_list("person_id", flat=True)[0]
    assert other.get(f"/console/benefits/accounts/{person_id}/").status_code == 404
    registry = factories.logged_in_client(factories.staff(muni, "registry_clerk"))
    assert registry.get("/console/benefits/flat/").status_code == 403
    batch.refresh_from_db()
    assert batch.state == "prepared"
