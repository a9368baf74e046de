"""The procedures JSON API: catalog, validation, reviewer inbox and decisions."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client

from kiban.registry.models import OPEN_END, PersonState, Status
from tests import factories
from tests.procedures.conftest import Household, move_out_answers, signed, submit

pytestmark = pytest.mark.django_db


def test_catalog_reflects_the_municipality(household: Household) -> None:
    m = household.m
    client = factories.api_client(factories.token(m, "auditor"))  # any role of the tenant
    r = client.get(f"/api/v1/municipalities/{m.code}/procedures")
    ids = {p["id"] for p in r.json()}
    assert {"move-out", "child-allowance", "inquiry"} <= ids
    m.settings = {**m.settings, "disabled_procedures": ["inquiry"]}
    m.save()
    ids = {p["id"] for p in client.get(f"/api/v1/municipalities/{m.code}/procedures").json()}
    assert "inquiry" not in ids
    one = client.get(f"/api/v1/municipalities/{m.code}/procedures/move-out").json()
    assert one["effect"] == "registry.move_out" and one["pages"]
    assert Client().get(f"/api/v1/municipalities/{m.code}/procedures").status_code == 401


def test_validate_endpoint_lists_every_problem(household: Household) -> None:
    client = factories.api_client(factories.token(household.m, "auditor"))
    r = client.post(
        f"/api/v1/municipalities/{household.m.code}/procedures/move-out/validate",
        data=json.dumps({"planned_date": "令和8年2月30日", "new_postcode": "1"}),
        content_type="application/json",
    )
    body = r.json()
    assert body["ok"] is False
    assert {p["field"] for p in body["problems"]} == {
        "planned_date",
        "movers",
        "new_postcode",
        "new_address",
    }


def test_signed_api_submission_with_a_bad_payload_is_payload_invalid(household: Household) -> None:
    payload, signature = signed(household.head, "move-out", {"planned_date": "x"})
    r = Client().post(
        f"/api/v1/municipalities/{household.m.code}/applications",
        data=json.dumps(
            {
                "procedure": "move-out",
                "payload": base64.b64encode(payload).decode(),
                "signature": base64.b64encode(signature).decode(),
            }
        ),
        content_type="application/json",
    )
    assert r.status_code == 422
    assert r.json()["code"] == "payload_invalid"
    assert any("planned_date" in str(d) for d in r.json()["details"])


def test_reviewer_inbox_and_decision(household: Household) -> None:
    app = submit(household.head, "move-out", move_out_answers(household, days=-1))
    m = household.m
    reviewer = factories.api_client(factories.token(m, "procedures_reviewer", "registry_clerk"))
    rows = reviewer.get(f"/api/v1/municipalities/{m.code}/applications/inbox").json()
    assert [r["id"] for r in rows] == [app.pk]
    assert rows[0]["verification"] == "valid" and rows[0]["signed"] is True
    detail = reviewer.get(f"/api/v1/municipalities/{m.code}/applications/{app.pk}").json()
    assert detail["answers"]["new_postcode"] == "1000001"
    r = reviewer.post(
        f"/api/v1/municipalities/{m.code}/applications/{app.pk}/decision",
        data=json.dumps({"decision": "approve"}),
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "approved"
    assert (
        PersonState.objects.get(person=household.head, valid_to=OPEN_END).status == Status.MOVED_OUT
    )
    again = reviewer.post(
        f"/api/v1/municipalities/{m.code}/applications/{app.pk}/decision",
        data=json.dumps({"decision": "reject", "reason": "x"}),
        content_type="application/json",
    )
    assert again.status_code == 409 and again.json()["code"] == "application_not_open"


def test_inbox_needs_the_role_and_the_tenant(household: Household) -> None:
    m = household.m
    submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    other = factories.municipality(factories.CHIYODA[0])
    clerk = factories.api_client(factories.token(m, "registry_clerk"))
    foreign = factories.api_client(factories.token(other, "procedures_reviewer"))
    url = f"/api/v1/municipalities/{m.code}/applications/inbox"
    assert clerk.get(url).status_code == 403
    assert foreign.get(url).status_code == 404
    assert Client().get(url).status_code == 401


def test_reject_without_reason_is_refused(household: Household) -> None:
    app = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    reviewer: Any = factories.api_client(factories.token(household.m, "procedures_reviewer"))
    r = reviewer.post(
        f"/api/v1/municipalities/{household.m.code}/applications/{app.pk}/decision",
        data=json.dumps({"decision": "reject"}),
        content_type="application/json",
    )
    assert r.status_code == 422 and r.json()["code"] == "reason_required"
