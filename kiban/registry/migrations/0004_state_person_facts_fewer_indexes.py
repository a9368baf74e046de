"""States carry the person's 住民票コード, birth date and sex; no index is there twice.

An as-of snapshot then reads the state table alone, household by household along
``state_household`` (household, head first, person), with no join and no sort. The
foreign-key indexes that a composite index already starts with are dropped (person and
household on states, person on events: ids are unique across municipalities, so the
composite indexes start with the key itself).
"""

import django.db.models.deletion
from django.db import migrations, models


def copy_person_facts(apps, schema_editor):
    PersonState = apps.get_model("registry", "PersonState")
    Person = apps.get_model("registry", "Person")
    person = Person.objects.filter(pk=models.OuterRef("person_id"))
    PersonState.objects.update(
        resident_code=models.Subquery(person.values("resident_code")[:1]),
        birth_date=models.Subquery(person.values("birth_date")[:1]),
        sex=models.Subquery(person.values("sex")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("registry", "0003_person_person_birth"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="personstate", name="state_person"),
        migrations.RemoveIndex(model_name="personstate", name="state_household"),
        migrations.RemoveIndex(model_name="registryevent", name="registry_re_municip_c2992c_idx"),
        migrations.AlterField(
            model_name="personstate",
            name="household",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="states",
                to="registry.household",
            ),
        ),
        migrations.AlterField(
            model_name="personstate",
            name="person",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="states",
                to="registry.person",
            ),
        ),
        migrations.AlterField(
            model_name="registryevent",
            name="person",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="registry.person",
            ),
        ),
        migrations.AddField(
            model_name="personstate",
            name="resident_code",
            field=models.CharField(max_length=11, null=True),
        ),
        migrations.AddField(
            model_name="personstate",
            name="birth_date",
            field=models.DateField(null=True),
        ),
        migrations.AddField(
            model_name="personstate",
            name="sex",
            field=models.CharField(
                choices=[("1", "男 / male"), ("2", "女 / female")], max_length=1, null=True
            ),
        ),
        migrations.RunPython(copy_person_facts, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="personstate",
            name="resident_code",
            field=models.CharField(max_length=11),
        ),
        migrations.AlterField(
            model_name="personstate",
            name="birth_date",
            field=models.DateField(),
        ),
        migrations.AlterField(
            model_name="personstate",
            name="sex",
            field=models.CharField(choices=[("1", "男 / male"), ("2", "女 / female")], max_length=1),
        ),
        migrations.AddIndex(
            model_name="personstate",
            index=models.Index(fields=["person", "valid_from"], name="state_person"),
        ),
        migrations.AddIndex(
            model_name="personstate",
            index=models.Index(fields=["household", "-is_head", "person"], name="state_household"),
        ),
        migrations.AddIndex(
            model_name="registryevent",
            index=models.Index(fields=["person", "event_date"], name="event_person"),
        ),
    ]
