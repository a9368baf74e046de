"""Payment states of a program's entitlements: every state and every edge case of
"returned", and the dashboard counts, the list needing action and the notice letters built
on them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from kiban.benefits import services
from kiban.benefits.letters import count_pending_letters, pending_letters
from kiban.benefits.models import BankAccount, Entitlement, Payment, PaymentState, Program
from kiban.benefits.testcity import generate_city
from kiban.core.actors import Actor
from kiban.core.models import Municipality
from tests import factories
from tests.benefits.conftest import BASE, TODAY, TRANSFER, household_program


def _states(program: Program) -> dict[int, str]:
    qs = services.with_payment_state(program.entitlements.filter(status="approved"))
    return dict(qs.values_list("id", "pay_state"))


def _attempt(e: Entitlement, state: str, *, at: object = None) -> None:
    """Record a bank result on the entitlement's latest payment attempt."""
    pay = Payment.objects.filter(entitlement=e).order_by("-id").first()
    assert pay is not None
    pay.state, pay.result_at = state, at
    pay.result_code = "2" if state == PaymentState.RETURNED else "0"
    pay.save()


@dataclass
class City:
    program: Program
    expected: dict[int, str]  # entitlement id -> the state it must be in


@pytest.fixture
def city(muni: Municipality, op: Actor, tmp_path: Path) -> City:
    """A city with entitlements in every payment state, including the edge cases."""
    generate_city(muni, households=80, base_date=BASE, seed=3)
    program = household_program(muni, op)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    services.generate_demo_accounts(actor=op, municipality=muni, share=0.7)
    services.pay(actor=op, municipality=muni, program_id="flat", transfer_date=TRANSFER,
                 out=tmp_path / "1.txt", today=TODAY)  # fmt: skip
    sent = list(Entitlement.objects.filter(program=program, payments__isnull=False).order_by("id"))
    assert len(sent) > 20
    now = timezone.now()
    # Untouched: sent (in the batch) or, without an account, no_account.
    expected = {e.pk: "sent" for e in sent}
    expected.update(
        (pk, "no_account")
        for pk in Entitlement.objects.filter(program=program, payments__isnull=True).values_list(
            "pk", flat=True
        )
    )
    accounts = {a.person_id: a for a in BankAccount.objects.filter(municipality=muni)}
    for e in sent[:5]:  # paid
        expected[e.pk] = "paid"
        _attempt(e, PaymentState.PAID, at=now)
    for e in sent[5:9]:  # returned, account not corrected since: "returned"
        expected[e.pk] = "returned"
        _attempt(e, PaymentState.RETURNED, at=now)
        BankAccount.objects.filter(pk=accounts[e.person_id].pk).update(
            updated_at=now - timedelta(days=1)
        )
    for e in sent[9:12]:  # returned, account corrected after: "ready"
        expected[e.pk] = "ready"
        _attempt(e, PaymentState.RETURNED, at=now - timedelta(days=2))
        BankAccount.objects.filter(pk=accounts[e.person_id].pk).update(updated_at=now)
    for e in sent[12:14]:  # returned, account updated at the very time of the return
        expected[e.pk] = "returned"
        _attempt(e, PaymentState.RETURNED, at=now)
        BankAccount.objects.filter(pk=accounts[e.person_id].pk).update(updated_at=now)
    for e in sent[14:16]:  # returned with no result time recorded
        expected[e.pk] = "returned"
        _attempt(e, PaymentState.RETURNED, at=None)
    for e in sent[16:18]:  # returned, then the account was removed
        expected[e.pk] = "returned"
        _attempt(e, PaymentState.RETURNED, at=now)
        BankAccount.objects.filter(pk=accounts[e.person_id].pk).delete()
    for e in sent[18:20]:  # returned, re-paid: returned + pending
        expected[e.pk] = "pending"
        _attempt(e, PaymentState.RETURNED, at=now - timedelta(days=3))
        p = Payment.objects.filter(entitlement=e).get()
        p.pk, p.state, p.result_at, p.result_code = None, PaymentState.PENDING, None, ""
        p.save()
    for e in sent[20:22]:  # two returns: the later one after the account's update
        expected[e.pk] = "returned"
        _attempt(e, PaymentState.RETURNED, at=now - timedelta(days=5))
        p = Payment.objects.filter(entitlement=e).get()
        p.pk, p.result_at = None, now
        p.save()
        BankAccount.objects.filter(pk=accounts[e.person_id].pk).update(
            updated_at=now - timedelta(days=1)
        )
    # Some payees without a payment get an account afterwards: "ready".
    unpaid = Entitlement.objects.filter(program=program, payments__isnull=True).order_by("id")
    for e in unpaid[:3]:
        expected[e.pk] = "ready"
        BankAccount.objects.create(
            municipality=muni, person_id=e.person_id, bank_code="0005", bank_name="ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ",
            branch_code="001", branch_name="ﾎﾝﾃﾝ", account_type="1", account_number="1234567",
            holder_kana="テスト", holder_zengin="ﾃｽﾄ", registered_via="console", updated_at=now,
        )  # fmt: skip
    return City(program, expected)


@pytest.mark.django_db
def test_every_payment_state_and_the_edge_cases_of_returned(city: City) -> None:
    states = _states(city.program)
    assert states == city.expected
    assert set(states.values()) == set(services.PAY_STATES)  # every state is covered
    assert Counter(states.values())["returned"] == 12


@pytest.mark.django_db
def test_status_and_town_counts_agree_with_each_entitlement(
    muni: Municipality, op: Actor, city: City
) -> None:
    states = city.expected
    amounts = dict(city.program.entitlements.values_list("id", "amount"))
    towns = dict(city.program.entitlements.values_list("id", "town_code"))
    rows = services.program_status(actor=op, municipality=muni, program_id="flat")
    assert [r.state for r in rows] == list(services.PAY_STATES)
    for r in rows:
        ids = [i for i, s in states.items() if s == r.state]
        assert (r.count, r.amount) == (len(ids), sum(amounts[i] for i in ids))
    both, by_town = services.status_and_towns(actor=op, municipality=muni, program_id="flat")
    assert both == rows  # the dashboard's one pass says what the status says
    expected: dict[str, Counter[str]] = {}
    for i, s in states.items():
        expected.setdefault(towns[i] or "-", Counter())[s] += 1
    assert by_town == {t: dict(c) for t, c in expected.items()}


@pytest.mark.django_db
def test_the_status_passes_run_without_jit_on_postgresql(
    muni: Municipality, op: Actor, city: City
) -> None:
    # PostgreSQL compiled the status's statement with JIT (its cost estimate is high for a
    # city), which took longer than running it: both passes turn it off for themselves.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        if "GROUP BY" in sql and seen[-1:] != ["busy"]:
            seen.append("busy")
            with context["connection"].cursor() as cur:
                cur.execute("SHOW jit")
                seen[-1] = cur.fetchone()[0]
        return execute(sql, params, many, context)

    with connection.cursor() as cur:  # as a request's connection has it (the fixture's
        cur.execute("SET LOCAL jit = on")  # bulk steps turned it off in this transaction)
    with connection.execute_wrapper(wrapper):
        services.program_status(actor=op, municipality=muni, program_id="flat")
        services.status_and_towns(actor=op, municipality=muni, program_id="flat")
    assert seen == ["off", "off"]


@pytest.mark.django_db
def test_needing_action_lists_no_account_then_returned_in_order(
    muni: Municipality, op: Actor, city: City
) -> None:
    states = city.expected
    wanted = sorted((s, i) for i, s in states.items() if s in ("no_account", "returned"))
    rows = services.needing_action(actor=op, municipality=muni, program_id="flat", limit=500)
    assert [(r["pay_state"], r["id"]) for r in rows] == wanted
    # A short list: the first by entitlement, still listed by state.
    short = services.needing_action(actor=op, municipality=muni, program_id="flat", limit=3)
    first = sorted(i for _, i in wanted)[:3]
    assert [(r["pay_state"], r["id"]) for r in short] == sorted((states[i], i) for i in first)
    returned = next(r for r in rows if r["pay_state"] == "returned" and r["return_reason"])
    assert returned["name"] and returned["address"]


@pytest.mark.django_db
def test_notices_go_to_exactly_the_payees_without_an_account(
    muni: Municipality, city: City
) -> None:
    no_account = {i for i, s in city.expected.items() if s == "no_account"}
    letters = list(pending_letters(muni, city.program))
    assert {x.entitlement_id for x in letters} == no_account
    assert count_pending_letters(city.program) == len(no_account)
    towns = dict(city.program.entitlements.values_list("id", "town_code"))
    order = [(towns[x.entitlement_id], x.entitlement_id) for x in letters]
    assert order == sorted(order)  # print order: town, then entitlement
    assert all(x.name.strip() and x.address for x in letters)


@pytest.mark.django_db
def test_notice_letters_are_read_in_blocks(
    muni: Municipality, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiban.benefits import letters

    whole = [x.entitlement_id for x in pending_letters(muni, city.program)]
    monkeypatch.setattr(letters, "LETTER_BLOCK", 2)
    assert [x.entitlement_id for x in pending_letters(muni, city.program)] == whole
    assert len(whole) > 2


@pytest.mark.django_db
def test_program_list_totals_agree_with_the_status(
    muni: Municipality, op: Actor, city: City
) -> None:
    household_program(muni, op, id="later", name="未計算の給付金")  # no entitlements yet
    totals = services.program_totals(actor=op, municipality=muni)
    rows = services.program_status(actor=op, municipality=muni, program_id="flat")
    flat = totals[city.program.pk]
    assert flat.entitlements == sum(r.count for r in rows) == len(city.expected)
    assert flat.amount == sum(r.amount for r in rows)
    assert flat.paid == next(r.count for r in rows if r.state == "paid") == 5
    assert len(totals) == 1  # the program without entitlements has no row
    # The console's list of programs shows them, and the empty program with zeros.
    client = factories.logged_in_client(factories.staff(muni, "benefits_clerk"))
    html = client.get("/console/benefits/").content.decode()
    for figure in (flat.entitlements, flat.amount):
        assert f"{figure:,}" in html
    assert "未計算の給付金" in html
    # Another municipality's clerk sees none of it.
    other = factories.municipality(*factories.CHIYODA)
    other_html = (
        factories.logged_in_client(factories.staff(other, "benefits_clerk"))
        .get("/console/benefits/")
        .content.decode()
    )
    assert "未計算の給付金" not in other_html and f"{flat.amount:,}" not in other_html


@pytest.mark.django_db
def test_needing_action_in_small_windows_finds_the_same(
    muni: Municipality, op: Actor, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = sorted((s, i) for i, s in city.expected.items() if s in ("no_account", "returned"))
    monkeypatch.setattr(services, "ACTION_WINDOW", 1)  # windows of 1, 4, 16, ... ids
    for limit in (1, 7, 500):
        rows = services.needing_action(actor=op, municipality=muni, program_id="flat", limit=limit)
        first = sorted(i for _, i in wanted)[:limit]
        assert [(r["pay_state"], r["id"]) for r in rows] == sorted(
            (city.expected[i], i) for i in first
        )
    # A program without entitlements needs nothing.
    household_program(muni, op, id="empty", name="空の給付金")
    assert services.needing_action(actor=op, municipality=muni, program_id="empty") == []


@pytest.mark.django_db
def test_needing_action_is_audited_and_hides_a_protected_payee(
    muni: Municipality, op: Actor, city: City
) -> None:
    from kiban.core.models import AuditEntry
    from kiban.registry.models import Person

    rows = services.needing_action(actor=op, municipality=muni, program_id="flat", limit=5)
    entry = AuditEntry.objects.filter(action="benefits.action_list.viewed").get()
    assert entry.details["count"] == 5
    assert entry.details["entitlements"] == [r["id"] for r in rows]
    shown = rows[0]
    assert shown["name"] != services.WITHHELD and shown["address"]
    Person.objects.filter(pk=shown["person_id"]).update(protected=True)
    again = services.needing_action(actor=op, municipality=muni, program_id="flat", limit=5)
    hidden = next(r for r in again if r["id"] == shown["id"])
    assert (hidden["name"], hidden["address"]) == (services.WITHHELD, "")
    assert all(r["name"] != services.WITHHELD for r in again if r["id"] != shown["id"])


@pytest.mark.django_db
def test_a_clerk_reading_a_persons_entitlements_is_audited(
    muni: Municipality, op: Actor, city: City
) -> None:
    from kiban.core.models import AuditEntry

    e = city.program.entitlements.order_by("id").first()
    assert e is not None
    rows = services.entitlements_for_person(actor=op, municipality=muni, person_id=e.person_id)
    assert [r["entitlement_id"] for r in rows] == [e.pk]
    entry = AuditEntry.objects.filter(action="benefits.entitlements.viewed").get()
    assert entry.subject_type == "person" and entry.subject_id == e.person.resident_code
    assert entry.details == {"count": 1}
