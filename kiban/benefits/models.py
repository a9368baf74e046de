"""給付 (benefit payments): programs, entitlements, 公金受取口座, batches and payments.

The ledger is one set of rows for every channel (registry push, application, clerk):

* ``Program`` — a definition file loaded for one municipality (see docs/benefits.md);
* ``Entitlement`` — who is owed how much under a program, keyed by (program, person) for a
  person program and (program, household) for a household program, unique in the database;
* ``BankAccount`` — the person's 公金受取口座 (one per person, in their own name);
* ``PaymentBatch`` / ``Payment`` — a transfer file and its lines. A ``Payment`` row is one
  attempt to pay one entitlement; a partial unique index allows at most one *live* attempt
  (pending, sent or paid) per entitlement, which is the exactly-once guarantee. A returned
  attempt is not live, so a new attempt can follow once the account is corrected.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from kiban.core.models import Municipality
from kiban.registry.models import Household, Person


class Unit(models.TextChoices):
    PERSON = "person", "個人 / person"
    HOUSEHOLD = "household", "世帯 / household"


class Program(models.Model):
    """A benefit program as loaded from its definition file."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    program_id = models.CharField(max_length=64)  # the definition's id (slug)
    name = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True)
    legal_basis = models.CharField(max_length=300, blank=True)
    base_date = models.DateField(null=True, blank=True)  # 基準日 (None for grant programs)
    unit = models.CharField(max_length=10, choices=Unit.choices)
    push = models.BooleanField(default=False)  # プッシュ型: pay without application
    application_start = models.DateField(null=True, blank=True)
    application_end = models.DateField(null=True, blank=True)
    definition = models.JSONField()  # the validated definition, as loaded
    digest = models.CharField(max_length=64)  # sha256 of the canonical definition
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "program_id"], name="benefit_program_unique_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.program_id} ({self.name})"


class EntitlementStatus(models.TextChoices):
    APPROVED = "approved", "決定 / approved"
    CANCELLED = "cancelled", "取消 / cancelled"


class Entitlement(models.Model):
    """What one person or household is owed under a program (the 受給権)."""

    # The two bulk tables (a city's entitlements, a batch's payments: millions of rows in
    # one statement) carry no database FK constraints. PostgreSQL checks each FK row by row
    # with a trigger that also locks the referenced row, which at 1.8 million rows costs
    # more than the insert itself; SQLite probes the parent per row. Integrity holds by
    # construction instead, set by set: every bulk row is selected from the rows it points
    # at (persons and households through their registry states, entitlements and accounts
    # through a join), inside the transaction that locks the program row, and the ORM
    # refuses to delete a referenced row (``on_delete=PROTECT``); the registry never
    # deletes persons. Uniqueness and exactly-once stay database constraints (below).
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    program = models.ForeignKey(
        Program,
        on_delete=models.PROTECT,
        related_name="entitlements",
        db_index=False,  # benefit_ent_prog starts with the program
        db_constraint=False,
    )
    unit = models.CharField(max_length=10, choices=Unit.choices)
    # The payee: the person for a person program, the head (世帯主) on the base date for a
    # household program.
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="entitlements", db_constraint=False
    )
    # The household on the base date (the key of a household program; informative otherwise).
    household = models.ForeignKey(
        Household, null=True, on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    amount = models.BigIntegerField()  # yen
    members = models.IntegerField(default=1)  # eligible persons counted in the amount
    town_code = models.CharField(max_length=7, blank=True)  # 町字 on the base date
    status = models.CharField(
        max_length=10, choices=EntitlementStatus.choices, default=EntitlementStatus.APPROVED
    )
    source = models.CharField(max_length=16, default="registry")  # registry | grant
    reference = models.CharField(max_length=100, blank=True)  # e.g. the application number
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["program", "person"],
                condition=Q(unit="person"),
                name="benefit_entitlement_unique_person",
            ),
            models.UniqueConstraint(
                fields=["program", "household"],
                condition=Q(unit="household"),
                name="benefit_entitlement_unique_household",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="benefit_entitlement_amount"),
        ]
        # Few indexes, each needed: every one is maintained row by row by the bulk insert.
        # By program (and status); by person (the person FK's own index); the unique ones.
        indexes = [models.Index(fields=["program", "status"], name="benefit_ent_prog")]


class BankAccount(models.Model):
    """公金受取口座: the one account a person has registered to receive public money."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    person = models.OneToOneField(Person, on_delete=models.PROTECT, related_name="bank_account")
    bank_code = models.CharField(max_length=4)
    bank_name = models.CharField(max_length=15)  # Zengin half-width form, from the master
    branch_code = models.CharField(max_length=3)
    branch_name = models.CharField(max_length=15)
    account_type = models.CharField(max_length=1)  # 1 普通, 2 当座, 4 貯蓄
    account_number = models.CharField(max_length=7)
    holder_kana = models.CharField(max_length=80)  # as entered (full-width katakana)
    holder_zengin = models.CharField(max_length=30)  # Zengin half-width form
    registered_via = models.CharField(max_length=16)  # portal | console | api | demo
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["municipality", "person"], name="benefit_account_person")]

    @property
    def masked_number(self) -> str:
        return "****" + self.account_number[-3:]


class BatchState(models.TextChoices):
    PREPARED = "prepared", "作成済（承認待ち） / prepared (awaiting approval)"
    APPROVED = "approved", "承認済 / approved"
    REJECTED = "rejected", "差戻し / rejected"
    RECONCILED = "reconciled", "結果反映済 / reconciled"


class PaymentBatch(models.Model):
    """One 総合振込 transfer: a set of payments sharing a transfer date and a file."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="batches")
    state = models.CharField(max_length=12, choices=BatchState.choices)
    transfer_date = models.DateField()
    count = models.IntegerField(default=0)
    total = models.BigIntegerField(default=0)
    prepared_by = models.CharField(max_length=64)  # actor id
    prepared_by_label = models.CharField(max_length=128, blank=True)
    prepared_at = models.DateTimeField()
    approved_by = models.CharField(max_length=64, blank=True)
    approved_by_label = models.CharField(max_length=128, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)  # of the (first) file

    class Meta:
        indexes = [models.Index(fields=["municipality", "program", "state"], name="benefit_batch")]


class PaymentState(models.TextChoices):
    PENDING = "pending", "承認待ち / pending approval"
    SENT = "sent", "振込依頼済 / sent to the bank"
    PAID = "paid", "振込済 / paid"
    RETURNED = "returned", "返戻 / returned"
    CANCELLED = "cancelled", "取消 / cancelled"


#: States in which an attempt holds its entitlement: at most one per entitlement.
LIVE_PAYMENT_STATES = (PaymentState.PENDING, PaymentState.SENT, PaymentState.PAID)


class Payment(models.Model):
    """One attempt to pay one entitlement, with the account details it was sent to."""

    # No database FK constraints: see Entitlement.
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    batch = models.ForeignKey(
        PaymentBatch,
        on_delete=models.PROTECT,
        related_name="payments",
        db_index=False,  # benefit_payment_batch
        db_constraint=False,
    )
    entitlement = models.ForeignKey(
        Entitlement,
        on_delete=models.PROTECT,
        related_name="payments",
        db_index=False,  # benefit_payment_ent
        db_constraint=False,
    )
    state = models.CharField(max_length=10, choices=PaymentState.choices)
    amount = models.BigIntegerField()
    # Snapshot of the account at the time of the batch: the file is rebuilt from these.
    bank_code = models.CharField(max_length=4)
    bank_name = models.CharField(max_length=15)
    branch_code = models.CharField(max_length=3)
    branch_name = models.CharField(max_length=15)
    account_type = models.CharField(max_length=1)
    account_number = models.CharField(max_length=7)
    holder_zengin = models.CharField(max_length=30)
    result_code = models.CharField(max_length=1, blank=True)
    result_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entitlement"],
                condition=Q(state__in=["pending", "sent", "paid"]),
                name="benefit_payment_one_live",
            )
        ]
        indexes = [
            # A batch's payments in id order: the file is read along this index, unsorted.
            models.Index(fields=["batch", "id"], name="benefit_payment_batch"),
            models.Index(fields=["entitlement", "state"], name="benefit_payment_ent"),
        ]
