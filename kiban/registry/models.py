"""住民記録 (resident registry): persons, households, and their history.

History is never overwritten. Every change is a ``RegistryEvent`` (異動); the state a
person was in is a ``PersonState`` row valid over ``[valid_from, valid_to)``. The
current state has ``valid_to = OPEN_END``. "Who lived where on date D" is therefore one
range predicate on an index that starts with the municipality:

    PersonState.objects.filter(municipality=m, valid_from__lte=D, valid_to__gt=D,
                               status=Status.RESIDENT)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import models

from kiban.core.models import Municipality

# Sentinel end of the current state. A real date (not NULL) keeps the as-of predicate a
# plain range comparison that both SQLite and PostgreSQL answer from one index.
OPEN_END = date(9999, 12, 31)


class Sex(models.TextChoices):
    MALE = "1", "男 / male"
    FEMALE = "2", "女 / female"


class Status(models.TextChoices):
    RESIDENT = "resident", "住民 / resident"
    MOVED_OUT = "moved_out", "転出 / moved out"
    DECEASED = "deceased", "死亡 / deceased"


class EventKind(models.TextChoices):
    MOVE_IN = "move_in", "転入 / move in"
    MOVE_OUT = "move_out", "転出 / move out"
    MOVE_WITHIN = "move_within", "転居 / move within"
    BIRTH = "birth", "出生 / birth"
    DEATH = "death", "死亡 / death"
    HOUSEHOLD_CHANGE = "household_change", "世帯変更 / household change"
    NAME_CHANGE = "name_change", "氏名変更 / name change"
    CORRECTION = "correction", "職権修正 / correction"
    IMPORT = "import", "データ移行 / import"


class Household(models.Model):
    """世帯. Its members and head over time are in PersonState (household + relationship)."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    household_no = models.CharField(max_length=16)  # 世帯番号
    created_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "household_no"], name="household_unique_no"
            )
        ]

    def __str__(self) -> str:
        return f"世帯 {self.household_no}"


class Person(models.Model):
    """The unchanging facts about a person; everything that changes is in PersonState."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    resident_code = models.CharField(max_length=11)  # 住民票コード
    # My Number: Fernet-encrypted, found by keyed hash, masked unless role and purpose allow.
    mynumber_enc = models.TextField(blank=True)
    mynumber_hash = models.CharField(max_length=64, blank=True)
    birth_date = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    # Nationality marker: "" for Japanese nationals, ISO 3166 alpha-2 for foreign residents.
    nationality = models.CharField(max_length=2, blank=True)
    # 支援措置 (DV/stalking support measures): suppressed from certificates and searches
    # for everyone but authorised staff; every access is audited.
    protected = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "resident_code"], name="person_unique_resident_code"
            )
        ]
        indexes = [
            models.Index(fields=["municipality", "mynumber_hash"]),
            # Signed-application intake finds the signer among residents born that day.
            models.Index(fields=["municipality", "birth_date", "sex"], name="person_birth"),
        ]

    def __str__(self) -> str:
        return self.resident_code


class RegistryEvent(models.Model):
    """異動: one recorded change. Append-only."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    # A person's events are found through event_person (below), which starts with the person:
    # ids are unique across municipalities, so the person alone is the key.
    person = models.ForeignKey(
        Person, null=True, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    household = models.ForeignKey(Household, null=True, on_delete=models.PROTECT)
    event_date = models.DateField()  # 異動日
    reported_date = models.DateField()  # 届出日
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.CharField(max_length=64)  # actor id
    reason = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["person", "event_date"], name="event_person"),
            models.Index(fields=["municipality", "kind", "event_date"]),
        ]


class SQLiteCoveringIndex(models.Index):
    """An index whose key, on SQLite, also ends with the ``covering`` columns.

    A query that reads and filters only the indexed columns is then answered from the
    index alone (SQLite: "USING COVERING INDEX"), never visiting the table's wide rows.
    SQLite has no ``INCLUDE``: the columns go at the end of the key, after ``fields``, so
    the order the index lists rows in is that of ``fields`` still.

    On PostgreSQL it is the plain index of ``fields``: an index-only scan there pays only
    once VACUUM has marked the table's pages all-visible, which a freshly loaded city's
    are not, and the snapshot reads a 3.77M city in about 6 s with the plain one.
    """

    def __init__(self, *args: Any, covering: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.covering = tuple(covering)

    def deconstruct(self) -> Any:
        path, args, kwargs = super().deconstruct()
        kwargs["covering"] = self.covering
        return path, args, kwargs

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "sqlite" and self.covering:
            wide = models.Index(
                fields=[*self.fields, *self.covering],
                name=self.name,
                condition=self.condition,
                db_tablespace=self.db_tablespace,
            )
            return wide.create_sql(model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)


#: The person's fields every one of their states carries a copy of.
PERSON_FACTS = ("resident_code", "birth_date", "sex")


class PersonState(models.Model):
    """A person's registry record as it stood over [valid_from, valid_to)."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    # Indexed by state_person and state_household (below), which start with the key: every
    # index on this table is rebuilt or maintained for each of a city's millions of rows,
    # so none is there twice.
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="states", db_index=False
    )
    valid_from = models.DateField()
    valid_to = models.DateField(default=OPEN_END)
    status = models.CharField(max_length=10, choices=Status.choices)
    # Copies of the person's 住民票コード, date of birth and sex, kept equal to the person's
    # in every state (a correction rewrites them all): an as-of snapshot of a city then
    # reads this one table in household order, with no join to the persons.
    resident_code = models.CharField(max_length=11)
    birth_date = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    household = models.ForeignKey(
        Household, null=True, on_delete=models.PROTECT, related_name="states", db_index=False
    )
    relationship = models.CharField(max_length=16, blank=True)  # 続柄 (世帯主, 妻, 子, ...)
    is_head = models.BooleanField(default=False)
    family_name = models.CharField(max_length=40)
    given_name = models.CharField(max_length=40)
    family_kana = models.CharField(max_length=80)
    given_kana = models.CharField(max_length=80)
    # Search keys (kiban.core.kana.search_key) of "family+given" and of the given name.
    name_key = models.CharField(max_length=160)
    given_key = models.CharField(max_length=80)
    postcode = models.CharField(max_length=7, blank=True)
    town_code = models.CharField(max_length=7, blank=True)  # 町字ID (kiban numbering)
    town_name = models.CharField(max_length=80, blank=True)
    address_detail = models.CharField(max_length=80, blank=True)  # 番地以下
    building = models.CharField(max_length=80, blank=True)  # 方書
    honseki = models.CharField(max_length=120, blank=True)  # 本籍 (Japanese nationals)
    # Indexed although states are never looked up by their event: deleting events (a
    # municipality's data purged) makes the database look for states pointing at each one.
    event = models.ForeignKey(RegistryEvent, null=True, on_delete=models.PROTECT)

    class Meta:
        indexes = [
            # As-of-date snapshot: municipality, then the validity range.
            models.Index(fields=["municipality", "valid_to", "valid_from"], name="state_asof"),
            models.Index(fields=["municipality", "name_key"], name="state_name_key"),
            models.Index(fields=["municipality", "given_key"], name="state_given_key"),
            models.Index(fields=["person", "valid_from"], name="state_person"),
            # A household's states, and a snapshot's members household by household in
            # the order it lists them (head first): read along this index, unsorted. On
            # SQLite the index also holds every column the snapshot filters on or reads
            # (queries.households_as_of), so it never reads the table: 3.77M residents,
            # a 405 MB index read instead of a 1.4 GB table (docs/benchmarks.md).
            SQLiteCoveringIndex(
                fields=["household", "-is_head", "person"],
                covering=[
                    "municipality",
                    "status",
                    "valid_to",
                    "valid_from",
                    *PERSON_FACTS,
                    "relationship",
                ],
                name="state_household",
            ),
            models.Index(fields=["municipality", "town_code", "valid_to"], name="state_town"),
        ]

    @property
    def full_name(self) -> str:
        return f"{self.family_name}\u3000{self.given_name}"

    @property
    def full_kana(self) -> str:
        return f"{self.family_kana}\u3000{self.given_kana}"

    @property
    def address(self) -> str:
        parts = [self.town_name, self.address_detail]
        text = "".join(p for p in parts if p)
        return f"{text}\u3000{self.building}" if self.building else text


class CertificateIssue(models.Model):
    """One issued 住民票の写し: its per-municipality number and what was printed (no copy)."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    seq = models.PositiveIntegerField()  # per-municipality sequence, from 1
    issue_no = models.CharField(max_length=32)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="certificates")
    household = models.BooleanField(default=False)  # 世帯連記式 (all members) or 個人票
    options = models.JSONField(default=dict, blank=True)  # relationship / honseki / mynumber
    purpose = models.CharField(max_length=200, blank=True)
    issued_at = models.DateTimeField(auto_now_add=True)
    issued_by = models.CharField(max_length=64)  # actor id
    sha256 = models.CharField(max_length=64)  # of the signed PDF

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["municipality", "seq"], name="certificate_unique_seq")
        ]
        indexes = [models.Index(fields=["municipality", "person", "issued_at"])]

    def __str__(self) -> str:
        return self.issue_no
