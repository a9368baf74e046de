"""`kiban procedures ...` and `kiban applications ...`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kiban.procedures import catalog
from kiban.procedures.cli import app, applications_app
from tests.procedures.conftest import Household, submit

runner = CliRunner()


def test_validate_accepts_a_shipped_file_and_lists_problems_of_a_broken_one(tmp_path: Path) -> None:
    good = catalog.DEFINITIONS_DIR / "move-out.yaml"
    r = runner.invoke(app, ["validate", str(good)])
    assert r.exit_code == 0 and "move-out" in r.output
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["effect"] = "magic"
    data["pages"][0]["fields"][0]["type"] = "colour"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(app, ["validate", str(bad)])
    assert r.exit_code == 1
    assert "effect" in r.output and "pages/0/fields/0/type" in r.output


@pytest.mark.django_db
def test_enable_disable_add_and_list(household: Household, tmp_path: Path) -> None:
    code = household.m.code
    assert runner.invoke(app, ["disable", "inquiry", "--municipality", code]).exit_code == 0
    household.m.refresh_from_db()
    assert catalog.get_procedure(household.m, "inquiry") is None
    r = runner.invoke(app, ["list", "--municipality", code])
    assert "inquiry" in r.output
    assert runner.invoke(app, ["enable", "inquiry", "--municipality", code]).exit_code == 0
    household.m.refresh_from_db()
    assert catalog.get_procedure(household.m, "inquiry") is not None
    data = yaml.safe_load((catalog.DEFINITIONS_DIR / "inquiry.yaml").read_text(encoding="utf-8"))
    data["id"] = "noise-complaint"
    f = tmp_path / "noise.yaml"
    f.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    r = runner.invoke(app, ["add", str(f), "--municipality", code])
    assert r.exit_code == 0, r.output
    assert catalog.get_procedure(household.m, "noise-complaint") is not None
    r = runner.invoke(app, ["enable", "no-such-thing", "--municipality", code])
    assert r.exit_code == 1


@pytest.mark.django_db
def test_applications_list_and_verify(household: Household) -> None:
    a = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    r = runner.invoke(applications_app, ["list", "--municipality", household.m.code])
    assert "inquiry" in r.output and str(a.pk) in r.output
    r = runner.invoke(applications_app, ["verify", str(a.pk), "--json"])
    assert r.exit_code == 0, r.output
    assert '"ok": true' in r.output
    # A counter entry has no signature: reported as such, not as a broken signature.
    from kiban.core.actors import staff_actor
    from kiban.procedures import services
    from tests import factories

    reviewer = factories.staff(household.m, "procedures_reviewer")
    counter, _ = services.submit_counter_application(
        actor=staff_actor(reviewer),
        municipality=household.m,
        person=household.spouse,
        procedure_id="inquiry",
        answers={"topic": "a", "message": "b"},
        form_token="t",
    )
    r = runner.invoke(applications_app, ["verify", str(counter.pk)])
    assert r.exit_code == 0 and "counter entry" in r.output
