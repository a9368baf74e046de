"""The audit chain detects altered, deleted and reordered entries."""

import pytest
from django.db import connection, transaction
from typer.testing import CliRunner

from kiban.cli import _mount_domains, app
from kiban.core import audit
from kiban.core.actors import SYSTEM
from kiban.core.models import AuditEntry, AuditHead
from tests import factories


def _fill(m, n=5):
    for i in range(n):
        audit.record(
            municipality=m,
            actor=SYSTEM,
            action="test.event",
            subject_type="person",
            subject_id=str(i),
            details={"i": i, "名前": "テスト"},
        )


def _sql(sql, params):
    with connection.cursor() as cur:
        cur.execute(sql, params)


@pytest.mark.django_db
def test_intact_chain_verifies_and_sequence_has_no_gaps():
    m = factories.municipality()
    before = AuditEntry.objects.filter(municipality=m).count()
    _fill(m)
    seqs = list(AuditEntry.objects.filter(municipality=m).values_list("seq", flat=True))
    assert seqs == list(range(1, before + 6))
    assert audit.verify_chain(m.code) is None


@pytest.mark.django_db
def test_altered_row_is_found():
    m = factories.municipality()
    _fill(m)
    target = AuditEntry.objects.get(municipality=m, subject_id="2", action="test.event")
    _sql("UPDATE core_auditentry SET subject_id = %s WHERE id = %s", ["999", target.pk])
    brk = audit.verify_chain(m.code)
    assert brk is not None
    assert brk.seq == target.seq
    assert "altered" in brk.reason


@pytest.mark.django_db
def test_deleted_row_is_found():
    m = factories.municipality()
    _fill(m)
    target = AuditEntry.objects.get(municipality=m, subject_id="3", action="test.event")
    _sql("DELETE FROM core_auditentry WHERE id = %s", [target.pk])
    brk = audit.verify_chain(m.code)
    assert brk is not None and brk.seq == target.seq


@pytest.mark.django_db
def test_deleted_last_row_is_found():
    m = factories.municipality()
    _fill(m)
    last = AuditEntry.objects.filter(municipality=m).order_by("-seq").first()
    _sql("DELETE FROM core_auditentry WHERE id = %s", [last.pk])
    brk = audit.verify_chain(m.code)
    assert brk is not None and brk.seq == last.seq


@pytest.mark.django_db
def test_reordered_rows_are_found():
    m = factories.municipality()
    _fill(m)
    a = AuditEntry.objects.get(municipality=m, subject_id="1", action="test.event")
    b = AuditEntry.objects.get(municipality=m, subject_id="2", action="test.event")
    with transaction.atomic():
        _sql("UPDATE core_auditentry SET seq = -1 WHERE id = %s", [a.pk])
        _sql("UPDATE core_auditentry SET seq = %s WHERE id = %s", [a.seq, b.pk])
        _sql("UPDATE core_auditentry SET seq = %s WHERE id = %s", [b.seq, a.pk])
    brk = audit.verify_chain(m.code)
    assert brk is not None and brk.seq == a.seq


@pytest.mark.django_db
def test_orm_refuses_update_and_delete():
    m = factories.municipality()
    _fill(m, 1)
    e = AuditEntry.objects.filter(municipality=m).first()
    e.action = "changed"
    with pytest.raises(RuntimeError):
        e.save()
    with pytest.raises(RuntimeError):
        e.delete()


@pytest.mark.django_db
def test_chains_are_per_municipality():
    a = factories.municipality()
    b = factories.municipality(factories.CHIYODA[0])
    _fill(a, 3)
    _fill(b, 2)
    assert (
        AuditHead.objects.get(municipality=b).last_seq
        == AuditEntry.objects.filter(municipality=b).count()
    )
    target = AuditEntry.objects.filter(municipality=a).order_by("seq").last()
    _sql("UPDATE core_auditentry SET purpose = %s WHERE id = %s", ["x", target.pk])
    assert audit.verify_chain(a.code) is not None
    assert audit.verify_chain(b.code) is None


@pytest.mark.django_db(transaction=True)
def test_cli_verify_exit_codes():
    m = factories.municipality()
    _fill(m)
    _mount_domains()
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--municipality", m.code])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    target = AuditEntry.objects.filter(municipality=m).order_by("seq")[2]
    _sql("UPDATE core_auditentry SET actor_label = %s WHERE id = %s", ["mallory", target.pk])
    bad = runner.invoke(app, ["audit", "verify", "--municipality", m.code])
    assert bad.exit_code == 1
    assert f"seq={target.seq}" in bad.output


@pytest.mark.django_db
def test_audit_written_in_same_transaction_as_change():
    """A change that fails after auditing leaves neither the change nor the entry."""
    m = factories.municipality()
    n = AuditEntry.objects.filter(municipality=m).count()
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        audit.record(municipality=m, actor=SYSTEM, action="test.rollback")
        1 / 0  # noqa: B018
    assert AuditEntry.objects.filter(municipality=m).count() == n
    assert audit.verify_chain(m.code) is None
