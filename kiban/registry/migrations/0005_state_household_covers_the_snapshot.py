"""On SQLite, state_household also holds every column an as-of snapshot reads or filters on.

The snapshot (``queries.households_as_of``) is then answered from the index alone, never
reading the state table's wide rows; on PostgreSQL the index is unchanged (recreated as
it was).
"""

import kiban.registry.models
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("registry", "0004_state_person_facts_fewer_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="personstate",
            name="state_household",
        ),
        migrations.AddIndex(
            model_name="personstate",
            index=kiban.registry.models.SQLiteCoveringIndex(
                covering=(
                    "municipality",
                    "status",
                    "valid_to",
                    "valid_from",
                    "resident_code",
                    "birth_date",
                    "sex",
                    "relationship",
                ),
                fields=["household", "-is_head", "person"],
                name="state_household",
            ),
        ),
    ]
