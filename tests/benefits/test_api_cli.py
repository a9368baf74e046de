"""API (tenancy and roles) and the `kiban benefit` commands end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kiban.benefits import services, zengin
from kiban.benefits.cli import app
from kiban.benefits.models import BankAccount, Entitlement, Payment
from kiban.benefits.testcity import generate_city
from kiban.core.actors import Actor
from kiban.core.models import AuditEntry, Municipality
from kiban.registry.models import OPEN_END, PersonState
from tests import factories
from tests.benefits.conftest import BASE, EXAMPLES, TRANSFER, household_program

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(muni: Municipality, op: Actor) -> None:
    generate_city(muni, households=50, base_date=BASE, seed=9)
    household_program(muni, op)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")


def test_api_programs_status_accounts_entitlements(muni: Municipality, city: None) -> None:
    client = factories.api_client(factories.token(muni, "benefits_clerk"))
    r = client.get(f"/api/v1/municipalities/{muni.code}/benefits/programs")
    assert r.status_code == 200 and [p["program_id"] for p in r.json()] == ["flat"]
    r = client.get(f"/api/v1/municipalities/{muni.code}/benefits/programs/flat/status")
    body = r.json()
    assert r.status_code == 200
    assert body["total_count"] == Entitlement.objects.count()
    state = PersonState.objects.filter(municipality=muni, valid_to=OPEN_END, status="resident",
                                       is_head=True).first()  # fmt: skip
    assert state is not None
    url = f"/api/v1/municipalities/{muni.code}/persons/{state.person_id}/benefit-account"
    payload = {"bank_code": "0009", "branch_code": "001", "account_type": "1",
               "account_number": "7777777",
               "holder_kana": f"{state.family_kana} {state.given_kana}"}  # fmt: skip
    r = client.put(url, payload, content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["account_number_masked"] == "****777"
    assert BankAccount.objects.get(person_id=state.person_id).registered_via == "api"
    bad = client.put(url, {**payload, "holder_kana": "漢字"}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["message_en"]
    r = client.get(f"/api/v1/municipalities/{muni.code}/persons/{state.person_id}/entitlements")
    assert r.status_code == 200
    assert r.json() == [] or r.json()[0]["payment_state"] in services.PAY_STATES


def test_api_tenancy_and_roles(muni: Municipality, city: None) -> None:
    chiyoda = factories.municipality(factories.CHIYODA[0])
    other = factories.api_client(factories.token(chiyoda, "benefits_clerk"))
    assert other.get(f"/api/v1/municipalities/{muni.code}/benefits/programs").status_code == 404
    assert (
        other.get(f"/api/v1/municipalities/{muni.code}/benefits/programs/flat/status").status_code
        == 404
    )
    person_id = PersonState.objects.filter(municipality=muni).values_list("person_id", flat=True)[0]
    assert (
        other.get(
            f"/api/v1/municipalities/{muni.code}/persons/{person_id}/entitlements"
        ).status_code
        == 404
    )
    # The tenant's own data, asked for under the other tenant's code, is not found either.
    assert (
        other.get(
            f"/api/v1/municipalities/{chiyoda.code}/persons/{person_id}/entitlements"
        ).status_code
        == 404
    )
    wrong_role = factories.api_client(factories.token(muni, "registry_clerk"))
    assert (
        wrong_role.get(f"/api/v1/municipalities/{muni.code}/benefits/programs").status_code == 403
    )
    assert (
        factories.api_client("kbn_nope")
        .get(f"/api/v1/municipalities/{muni.code}/benefits/programs")
        .status_code
        == 401
    )


def test_cli_load_eligibility_accounts_pay_reconcile_status(
    muni: Municipality, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a: TRANSFER.replace(day=1))
    generate_city(muni, households=40, base_date=BASE, seed=12)
    runner = CliRunner()
    m = ["--municipality", muni.code]
    r = runner.invoke(app, ["load", str(EXAMPLES / "special-flat-rate.yaml"), *m])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == "special-flat-rate"
    r = runner.invoke(app, ["eligibility", "special-flat-rate", *m])
    assert r.exit_code == 0, r.output
    total = sum(Entitlement.objects.values_list("amount", flat=True))
    assert f"¥{total:,}" in r.output
    r = runner.invoke(app, ["accounts", "generate", *m, "--share", "0.8"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["pay", "special-flat-rate", *m, "--transfer-date", "2027-02-06",
                            "--out", str(tmp_path / "z.txt")])  # fmt: skip
    assert r.exit_code == 1 and "2027-02-08" in r.output
    r = runner.invoke(app, ["pay", "special-flat-rate", *m, "--transfer-date",
                            TRANSFER.isoformat(), "--out", str(tmp_path / "z.txt"),
                            "--as", "tanaka"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert AuditEntry.objects.filter(action="benefits.batch.issued",
                                     actor_id="operator:tanaka").exists()  # fmt: skip
    parsed = zengin.parse_transfer_file((tmp_path / "z.txt").read_bytes())
    first = int(parsed.records[0].customer_number or 0)
    results = [zengin.ResultRecord.from_transfer(rec, "2" if i == 0 else "0")
               for i, rec in enumerate(parsed.records)]  # fmt: skip
    (tmp_path / "result.txt").write_bytes(zengin.write_result_file(parsed.header, results))
    r = runner.invoke(app, ["reconcile", "special-flat-rate", str(tmp_path / "result.txt"), *m])
    assert r.exit_code == 0, r.output
    assert Payment.objects.get(pk=first).state == "returned"
    r = runner.invoke(app, ["status", "special-flat-rate", *m])
    assert r.exit_code == 0
    line = next(x for x in r.output.splitlines() if x.startswith("paid"))
    assert f"{len(parsed.records) - 1:,}" in line
    r = runner.invoke(app, ["letters", "special-flat-rate", *m, "--out", str(tmp_path / "letters"),
                            "--per-file", "5"])  # fmt: skip
    assert r.exit_code == 0, r.output
    pdfs = sorted((tmp_path / "letters").glob("*.pdf"))
    assert pdfs and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
