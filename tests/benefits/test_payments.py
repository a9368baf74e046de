"""Payment batches: the Zengin file byte by byte, exactly once, returns and re-payment."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest
from django.db import (
    IntegrityError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)

from kiban.benefits import services, zengin
from kiban.benefits.bankdays import TransferDateError
from kiban.benefits.models import (
    BankAccount,
    Entitlement,
    Payment,
    PaymentBatch,
    PaymentState,
)
from kiban.benefits.testcity import generate_city
from kiban.core.actors import Actor
from kiban.core.errors import ValidationFailed
from kiban.core.models import AuditEntry, Municipality
from tests.benefits.conftest import BASE, TODAY, TRANSFER, household_program


def _city(muni: Municipality, op: Actor, households: int = 120, share: float = 0.8) -> None:
    generate_city(muni, households=households, base_date=BASE, seed=1)
    household_program(muni, op)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    services.generate_demo_accounts(actor=op, municipality=muni, share=share)


def _pay(muni: Municipality, op: Actor, out: Path) -> services.PayResult:
    return services.pay(actor=op, municipality=muni, program_id="flat", transfer_date=TRANSFER,
                        out=out, today=TODAY)  # fmt: skip


@pytest.mark.django_db
def test_zengin_file_of_a_real_batch_byte_by_byte(
    muni: Municipality, op: Actor, tmp_path: Path
) -> None:
    _city(muni, op)
    result = _pay(muni, op, tmp_path / "out.txt")
    data = (tmp_path / "out.txt").read_bytes()
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    records = lines[:-1]
    assert all(len(r) == 120 for r in records)
    assert len(records) == result.count + 3
    header, *body, trailer, end = records
    bank = muni.settings["bank"]
    assert header[0:1] == b"1" and header[1:3] == b"21" and header[3:4] == b"0"
    assert header[4:14] == bank["requester_code"].encode()
    assert header[14:54] == "ﾃｽﾄｼ".encode("cp932").ljust(40)
    assert header[54:58] == b"%02d%02d" % (TRANSFER.month, TRANSFER.day)
    assert header[58:62] == b"0001" and header[62:77] == "ﾐｽﾞﾎ".encode("cp932").ljust(15)
    assert header[77:80] == b"001" and header[80:95] == "ﾄｳｷﾖｳ".encode("cp932").ljust(15)
    assert header[95:96] == b"1" and header[96:103] == b"1234567" and header[103:] == b" " * 17
    payments = list(Payment.objects.filter(batch=result.batch).order_by("id"))
    total = 0
    for rec, p in zip(body, payments, strict=True):
        acc = BankAccount.objects.get(person_id=p.entitlement.person_id)
        assert rec[0:1] == b"2"
        assert rec[1:5] == acc.bank_code.encode()
        assert rec[5:20] == acc.bank_name.encode("cp932").ljust(15)
        assert rec[20:23] == acc.branch_code.encode()
        assert rec[23:38] == acc.branch_name.encode("cp932").ljust(15)
        assert rec[38:42] == b"0000" and rec[42:43] == b"1"
        assert rec[43:50] == acc.account_number.encode()
        name = rec[50:80].decode("cp932").rstrip(" ")
        assert name == acc.holder_zengin
        # Large kana only, voiced marks as separate bytes, no long-vowel or small kana.
        assert not set(name) & set("ｧｨｩｪｫｯｬｭｮｰ,") and all(
            len(ch.encode("cp932")) == 1 for ch in name
        )
        assert int(rec[80:90]) == p.amount == p.entitlement.amount
        assert rec[90:91] == b"0" and int(rec[91:111]) == p.pk
        assert rec[111:112] == b"7" and rec[112:113] == b" " and rec[113:] == b" " * 7
        total += p.amount
    assert trailer[0:1] == b"8" and int(trailer[1:7]) == len(body) and int(trailer[7:19]) == total
    assert trailer[19:] == b" " * 101 and total == result.total
    assert end == b"9" + b" " * 119
    # The pure parser agrees, and the file can be re-written identically from the rows.
    assert zengin.parse_transfer_file(data).summary.total_amount == total
    again = services.rewrite_batch_file(actor=op, municipality=muni, batch_id=result.batch.pk,
                                        out=tmp_path / "again.txt")  # fmt: skip
    assert again[0].read_bytes() == data
    # The fast data-record encoder agrees with the pure module's writer byte for byte.
    parsed = zengin.parse_transfer_file(data)
    header = zengin.TransferHeader(
        requester_code=parsed.header.requester_code, requester_name=parsed.header.requester_name,
        transfer_date=TRANSFER, bank_code=parsed.header.bank_code,
        bank_name=parsed.header.bank_name, branch_code=parsed.header.branch_code,
        branch_name=parsed.header.branch_name, account_type=parsed.header.account_type,
        account_number=parsed.header.account_number,
    )  # fmt: skip
    assert zengin.write_transfer_file(header, parsed.records) == data
    # So does the row-by-row encoder that names a refused payment.
    assert result.batch is not None
    rows = services._payment_rows(result.batch)
    encoder = services._DataRecords()
    assert [encoder.encode(row) for row in rows] == body


@pytest.mark.django_db
def test_line_ending_none_setting(muni: Municipality, op: Actor, tmp_path: Path) -> None:
    muni.settings["zengin_line_ending"] = "none"
    muni.save()
    _city(muni, op, households=30)
    result = _pay(muni, op, tmp_path / "z.txt")
    data = (tmp_path / "z.txt").read_bytes()
    assert len(data) == 120 * (result.count + 3) and b"\r" not in data[: 120 * 3]


@pytest.mark.django_db
def test_pay_again_pays_nothing_twice(muni: Municipality, op: Actor, tmp_path: Path) -> None:
    _city(muni, op)
    first = _pay(muni, op, tmp_path / "1.txt")
    assert first.count > 0
    second = _pay(muni, op, tmp_path / "2.txt")
    assert second.batch is None and not (tmp_path / "2.txt").exists()
    # New accounts registered later are paid in a new batch, and only they.
    services.generate_demo_accounts(actor=op, municipality=muni, share=1.0)
    third = _pay(muni, op, tmp_path / "3.txt")
    ids1 = set(Payment.objects.filter(batch=first.batch).values_list("entitlement_id", flat=True))
    ids3 = set(Payment.objects.filter(batch=third.batch).values_list("entitlement_id", flat=True))
    assert ids3 and not ids1 & ids3
    assert (
        AuditEntry.objects.filter(
            action="benefits.batch.issued", actor_id="operator:test-op"
        ).count()
        == 2
    )


@pytest.mark.django_db
def test_database_refuses_a_second_live_payment(
    muni: Municipality, op: Actor, tmp_path: Path
) -> None:
    _city(muni, op, households=20)
    result = _pay(muni, op, tmp_path / "1.txt")
    p = Payment.objects.filter(batch=result.batch).first()
    assert p is not None
    p.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        p.save()
    p.state = PaymentState.RETURNED
    with transaction.atomic():
        p.save()  # a non-live attempt is allowed


@pytest.mark.django_db
def test_interrupted_batch_leaves_nothing(
    muni: Municipality, op: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(muni, op, households=40)
    monkeypatch.setattr(services, "FILE_BLOCK_ROWS", 4)
    real = services._encode_block
    calls = []

    def crash(records: list[str], eol: bytes) -> bytes | None:
        calls.append(records)
        if len(calls) == 3:  # midway through the file: two blocks are written already
            raise KeyboardInterrupt("power cut")
        return real(records, eol)

    monkeypatch.setattr(services, "_encode_block", crash)
    with pytest.raises(KeyboardInterrupt):
        _pay(muni, op, tmp_path / "z.txt")
    assert len(calls) == 3
    assert not [t for t in threading.enumerate() if t.name == "kiban-zengin-fetch"]
    assert not PaymentBatch.objects.exists() and not Payment.objects.exists()
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(services, "_encode_block", real)
    assert _pay(muni, op, tmp_path / "z.txt").count > 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"holder_zengin": "ﾔﾏﾀﾞ,ﾀﾛｳ"},  # a comma: no bank takes it
        {"holder_zengin": "ﾔﾏﾀﾞ ｼﾞﾖｰｼﾞ"},  # the half-width long vowel
        {"holder_zengin": "ﾔﾏﾀﾞ ｼｮｳ"},  # a small kana
        {"holder_zengin": "やまだ"},  # not half-width
        {"holder_zengin": "ﾔﾏﾀﾞ/ﾀﾛｳ"},  # refused unless a bank allows it
        {"holder_zengin": ""},
        {"holder_zengin": "ﾔﾏﾀﾞ" + "ｱ" * 27},  # 31 characters (SQLite only: PG refuses)
        {"account_number": "123456"},
        {"account_number": "12345A7"},
        {"branch_code": "01"},
        {"bank_code": "00A1"},
        {"account_type": "3"},
        {"bank_name": "ﾐｽﾞﾎ" * 4},  # 16 characters (SQLite only)
        {"branch_name": "ﾄｳｷﾖｳ\tﾎﾝﾃﾝ"},
    ],
)
def test_a_payment_that_cannot_be_a_zengin_record_refuses_the_batch(
    muni: Municipality, op: Actor, tmp_path: Path, change: dict[str, str]
) -> None:
    _city(muni, op, households=30)
    payees = Entitlement.objects.filter(person__bank_account__isnull=False).order_by("id")
    victim = BankAccount.objects.get(person_id=payees[7].person_id)
    widths = {k: getattr(BankAccount._meta.get_field(k), "max_length", 0) for k in change}
    too_long = any(len(v) > widths[k] for k, v in change.items())
    if too_long and connection.vendor == "postgresql":
        pytest.skip("the column type refuses it on PostgreSQL")
    BankAccount.objects.filter(pk=victim.pk).update(**change)
    with pytest.raises(ValidationFailed) as e:
        _pay(muni, op, tmp_path / "z.txt")
    assert e.value.code == "zengin_format"
    assert "Payment " in e.value.message_en and "支払" in e.value.message_ja
    # The refused payment is named (found by the per-row check), not just its block.
    assert f"Payment {e.value.details['payment']} " in e.value.message_en
    assert not e.value.details["problem"].startswith("a record among")
    assert not PaymentBatch.objects.exists() and not Payment.objects.exists()
    assert list(tmp_path.iterdir()) == []
    # Correcting the account lets the batch through, that account included.
    BankAccount.objects.filter(pk=victim.pk).update(**{k: getattr(victim, k) for k in change})
    result = _pay(muni, op, tmp_path / "z.txt")
    assert Payment.objects.filter(batch=result.batch, entitlement=payees[7]).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_pay_runs_never_share_an_entitlement(
    muni: Municipality, op: Actor, tmp_path: Path
) -> None:
    _city(muni, op, households=150, share=1.0)
    payable = Entitlement.objects.filter(person__bank_account__isnull=False).count()
    errors: list[BaseException] = []
    finished: list[int] = []
    barrier = threading.Barrier(4)

    def run(i: int) -> None:
        try:
            barrier.wait()
            # SQLite's shared cache says "locked" instead of waiting: run again after a pause
            # until the run holding the database is done. Bounded by time, not by a count of
            # attempts (50 back-to-back attempts were used up in well under a second, and a
            # run that gave up that way was never noticed).
            give_up = time.monotonic() + 120
            while True:
                try:
                    _pay(muni, op, tmp_path / f"{i}.txt")
                    finished.append(i)
                    return
                except OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > give_up:
                        raise
                    time.sleep(0.005)
        except BaseException as e:
            errors.append(e)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(finished) == [0, 1, 2, 3]  # every run ran to its end
    seen: list[int] = []
    for f in tmp_path.glob("*.txt"):
        for rec in zengin.parse_transfer_file(f.read_bytes()).records:
            seen.append(Payment.objects.get(pk=int(rec.customer_number or 0)).entitlement_id)
    assert len(seen) == len(set(seen)) == payable
    assert PaymentBatch.objects.count() == len(list(tmp_path.glob("*.txt")))


def _result_file(batch: PaymentBatch, returned: dict[int, str]) -> bytes:
    parsed = zengin.parse_transfer_file(services.batch_file_bytes_unchecked(batch))
    out = []
    for rec in parsed.records:
        pid = int(rec.customer_number or 0)
        out.append(zengin.ResultRecord.from_transfer(rec, returned.get(pid, "0")))
    return zengin.write_result_file(parsed.header, out)


@pytest.mark.django_db
def test_reconcile_returns_and_repay_after_correction(
    muni: Municipality, op: Actor, tmp_path: Path
) -> None:
    _city(muni, op, households=60)
    first = _pay(muni, op, tmp_path / "1.txt")
    pids = list(
        Payment.objects.filter(batch=first.batch).order_by("id").values_list("id", flat=True)
    )
    returned = {pids[0]: "2", pids[1]: "9"}
    result = services.reconcile(actor=op, municipality=muni, program_id="flat",
                                data=_result_file(first.batch, returned))  # fmt: skip
    assert (result.paid, result.returned) == (len(pids) - 2, 2)
    assert result.reasons == {"2": 1, "9": 1}
    first.batch.refresh_from_db()
    assert first.batch.state == "reconciled"
    status = {
        r.state: r.count
        for r in services.program_status(actor=op, municipality=muni, program_id="flat")
    }
    assert status["paid"] == len(pids) - 2 and status["returned"] == 2
    # Re-reading the same file changes nothing.
    again = services.reconcile(actor=op, municipality=muni, program_id="flat",
                               data=_result_file(first.batch, returned))  # fmt: skip
    assert again.unchanged == len(pids) and again.paid == 0
    # Not re-paid until the account is corrected.
    assert _pay(muni, op, tmp_path / "2.txt").batch is None
    bad = Payment.objects.get(pk=pids[0])
    person = bad.entitlement.person
    acc = BankAccount.objects.get(person=person)
    services.register_account(
        actor=op, municipality=muni, person=person, bank_code="0005", branch_code="001",
        account_type="1", account_number="7654321", holder_kana=acc.holder_kana, via="console",
    )  # fmt: skip
    second = _pay(muni, op, tmp_path / "3.txt")
    assert list(
        Payment.objects.filter(batch=second.batch).values_list("entitlement_id", flat=True)
    ) == [bad.entitlement_id]
    csv_text = services.result_csv_for(second.batch)
    services.reconcile(actor=op, municipality=muni, program_id="flat", data=csv_text.encode(),
                       filename="result.csv")  # fmt: skip
    states = list(
        Payment.objects.filter(entitlement=bad.entitlement)
        .order_by("id")
        .values_list("state", flat=True)
    )
    assert states == ["returned", "paid"]
    # Never both paid: every entitlement has at most one paid payment.
    from django.db.models import Count, Q

    assert (
        not Entitlement.objects.annotate(n=Count("payments", filter=Q(payments__state="paid")))
        .filter(n__gt=1)
        .exists()
    )


@pytest.mark.django_db
def test_reconcile_refuses_a_bad_file_atomically(
    muni: Municipality, op: Actor, tmp_path: Path
) -> None:
    _city(muni, op, households=30)
    first = _pay(muni, op, tmp_path / "1.txt")
    good = services.result_csv_for(first.batch)
    bad = good + "00000000000099999999,100000,0\r\n"
    with pytest.raises(ValidationFailed) as e:
        services.reconcile(actor=op, municipality=muni, program_id="flat", data=bad.encode(),
                           filename="r.csv")  # fmt: skip
    assert "99999999" in str(e.value.details)
    assert not Payment.objects.filter(state="paid").exists()
    first_pid = Payment.objects.filter(batch=first.batch).order_by("id").first()
    assert first_pid is not None
    wrong_amount = good.replace(f"{first_pid.pk:020d},{first_pid.amount}", f"{first_pid.pk:020d},1")
    with pytest.raises(ValidationFailed):
        services.reconcile(actor=op, municipality=muni, program_id="flat",
                           data=wrong_amount.encode(), filename="r.csv")  # fmt: skip
    assert not Payment.objects.filter(state="paid").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("day", "suggested"),
    [
        (date(2027, 2, 6), date(2027, 2, 8)),  # Saturday
        (date(2027, 2, 11), date(2027, 2, 12)),  # 建国記念の日
        (date(2027, 12, 31), date(2028, 1, 4)),  # year-end break
    ],
)
def test_transfer_date_must_be_a_bank_business_day(
    muni: Municipality, op: Actor, tmp_path: Path, day: date, suggested: date
) -> None:
    _city(muni, op, households=10)
    with pytest.raises(TransferDateError) as e:
        services.pay(actor=op, municipality=muni, program_id="flat", transfer_date=day,
                     out=tmp_path / "z.txt", today=TODAY)  # fmt: skip
    assert e.value.suggestion == suggested
    assert suggested.isoformat() in e.value.message_ja
    assert not PaymentBatch.objects.exists()


@pytest.mark.django_db
def test_large_batches_are_split_into_files_of_at_most_max_records(
    muni: Municipality, op: Actor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _city(muni, op, households=60, share=1.0)
    monkeypatch.setattr(zengin, "MAX_RECORDS", 10)
    result = _pay(muni, op, tmp_path / "z.txt")
    assert result.count > 20 and len(result.files) == -(-result.count // 10)
    assert [f.name for f in result.files][:2] == ["z-001.txt", "z-002.txt"]
    ids: list[int] = []
    total = 0
    for f in result.files:
        parsed = zengin.parse_transfer_file(f.read_bytes())
        assert 1 <= parsed.summary.count <= 10
        ids += [int(r.customer_number or 0) for r in parsed.records]
        total += parsed.summary.total_amount
    assert ids == sorted(Payment.objects.filter(batch=result.batch).values_list("id", flat=True))
    assert total == result.total
