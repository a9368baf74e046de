"""Every foreign key the database checks has an index starting with it.

Deleting (or key-updating) a referenced row makes the database look for the rows pointing
at it: without such an index that is a scan of the whole child table per deleted row, and
purging a city's millions of registry rows would never finish.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models


@pytest.mark.django_db
def test_each_checked_foreign_key_leads_an_index() -> None:
    missing: list[str] = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if not model.__module__.startswith("kiban."):
                continue
            table = model._meta.db_table
            leading = {
                c["columns"][0]
                for c in connection.introspection.get_constraints(cursor, table).values()
                if c["columns"] and (c["index"] or c["unique"] or c["primary_key"])
            }
            for field in model._meta.local_fields:
                if isinstance(field, models.ForeignKey) and field.db_constraint:
                    if field.column not in leading:
                        missing.append(f"{table}.{field.column}")
    assert missing == []
