"""Registry migration 0004: existing states get their person's 住民票コード, birth date and sex."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("core", "0001_initial"), ("registry", "0003_person_person_birth")]
AFTER = [("registry", "0004_state_person_facts_fewer_indexes")]


@pytest.mark.django_db(transaction=True)
def test_0004_copies_each_persons_facts_onto_all_their_states() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    m = old.get_model("core", "Municipality").objects.create(
        code="131016", name="千代田区", prefecture="東京都"
    )
    hh = old.get_model("registry", "Household").objects.create(
        municipality=m, household_no="1", created_on=date(2020, 1, 1)
    )
    Person = old.get_model("registry", "Person")
    State = old.get_model("registry", "PersonState")
    people = [
        Person.objects.create(municipality=m, resident_code=code, birth_date=birth, sex=sex)
        for code, birth, sex in [
            ("10000000014", date(1980, 2, 29), "1"),
            ("10000000022", date(2001, 12, 31), "2"),
        ]
    ]
    for p in people:
        for start, end in [
            (date(2020, 1, 1), date(2022, 4, 1)),
            (date(2022, 4, 1), date(9999, 12, 31)),
        ]:
            State.objects.create(
                municipality=m, person=p, valid_from=start, valid_to=end, status="resident",
                household=hh, family_name="試験", given_name="一", family_kana="シケン",
                given_kana="イチ", name_key="シケンイチ", given_key="イチ",
            )  # fmt: skip

    executor = MigrationExecutor(connection)  # the graph as it stands after the writes
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    rows = sorted(
        new.get_model("registry", "PersonState").objects.values_list(
            "person_id", "resident_code", "birth_date", "sex"
        )
    )
    expected = sorted(
        (p.pk, p.resident_code, p.birth_date, p.sex) for p in people for _ in range(2)
    )
    assert rows == expected
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # back to the latest for the next test
