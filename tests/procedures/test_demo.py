"""The demo seed hook: catalog on, sample applications in the reviewer's inbox."""

from __future__ import annotations

import pytest

from kiban.procedures import demo
from kiban.procedures.models import Application
from tests import factories
from tests.procedures.conftest import Household


@pytest.mark.django_db
def test_seed_enables_the_catalog_and_fills_the_inbox(household: Household) -> None:
    reviewer = factories.staff(household.m, "procedures_reviewer", username="demo-reviewer")
    made = demo.seed(municipality=household.m, residents=0)
    assert made >= 1
    assert Application.objects.filter(municipality=household.m, channel="counter").count() == made
    reviewer.refresh_from_db()
    assert "registry_clerk" in reviewer.roles  # can approve a 転出届 in the demo
    assert demo.seed(municipality=household.m, residents=0) == 0  # idempotent
