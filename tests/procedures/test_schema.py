"""Definition schema, shipped definitions and bundles, and answer validation (pure)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kiban.procedures import bundles, catalog
from kiban.procedures.schema import (
    DefinitionError,
    clean_answers,
    definition_problems,
    parse_definition,
)

DEFS = sorted((Path(catalog.__file__).parent / "definitions").glob("*.yaml"))
REQUIRED_IDS = {
    "move-out",
    "move-within",
    "juminhyo-copy-request",
    "child-allowance",
    "nhi-enroll",
    "nhi-withdraw",
    "seal-registration-abolish",
    "disaster-certificate",
    "inquiry",
}
TODAY = date(2026, 11, 23)


@pytest.mark.parametrize("path", DEFS, ids=lambda p: p.name)
def test_every_shipped_definition_matches_the_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert definition_problems(data) == []
    proc = parse_definition(data)
    assert path.stem == proc.id, "file name and id agree"
    assert all(f.label["ja"] and f.label["en"] for f in proc.fields)


def test_the_standard_set_is_complete() -> None:
    assert set(catalog.standard_procedures()) >= REQUIRED_IDS


def test_every_bundle_resolves_against_the_standard_set() -> None:
    found = bundles.standard_bundles()
    assert {"moving", "childbirth", "death"} <= set(found)
    moving = found["moving"]
    move_out = catalog.standard_procedure("move-out")
    assert move_out is not None
    # The moving bundle asks everything 転出届 needs in its shared pages.
    assert bundles.own_fields(moving, move_out) == []


def test_schema_problems_are_listed_with_their_path() -> None:
    data = yaml.safe_load(DEFS[0].read_text(encoding="utf-8"))
    broken = copy.deepcopy(data)
    broken["effect"] = "registry.teleport"
    broken["pages"][0]["fields"][0]["type"] = "colour"
    del broken["name"]["en"]
    with pytest.raises(DefinitionError) as info:
        parse_definition(broken)
    text = " | ".join(info.value.problems)
    assert "effect" in text and "pages/0/fields/0/type" in text and "name" in text


def test_duplicate_field_ids_and_unknown_subject_refs_are_refused() -> None:
    data = yaml.safe_load((DEFS[0].parent / "move-out.yaml").read_text(encoding="utf-8"))
    data["pages"][1]["fields"].append(copy.deepcopy(data["pages"][0]["fields"][0]))
    data["subject"] = "move-out:{nope}"
    problems = definition_problems(data)
    assert any("used twice" in p for p in problems)
    assert any("{nope}" in p for p in problems)


def _proc(pid: str):  # type: ignore[no-untyped-def]
    p = catalog.standard_procedure(pid)
    assert p is not None
    return p


def test_all_field_errors_are_reported_at_once() -> None:
    answers = {
        "planned_date": "令和8年2月30日",
        "movers": [],
        "new_postcode": "12-34",
        "new_address": "",
        "email": "not-an-email",
        "colour": "blue",
    }
    _, problems = clean_answers(_proc("move-out"), answers, today=TODAY)
    by_field = {p["field"]: p["code"] for p in problems}
    assert by_field == {
        "planned_date": "date_invalid",
        "movers": "required",
        "new_postcode": "postcode_invalid",
        "new_address": "required",
        "email": "email_invalid",
        "colour": "unknown_field",
    }
    assert all(p["message_ja"] and p["message_en"] for p in problems)


def test_wareki_dates_are_accepted_and_stored_iso() -> None:
    cleaned, problems = clean_answers(
        _proc("move-out"),
        {
            "planned_date": "令和8年12月1日",
            "movers": ["12345678901"],
            "new_postcode": "１００－０００１",
            "new_address": "東京都千代田区千代田1-1",
            "procedure": "move-out",
            "municipality": "141003",
            "_nonce": "x",
        },
        today=TODAY,
    )
    assert problems == []
    assert cleaned["planned_date"] == "2026-12-01"
    assert cleaned["new_postcode"] == "1000001"


def test_date_window_of_the_definition_applies() -> None:
    proc = _proc("move-out")  # from 14 days ago to 60 days ahead
    base = {"movers": ["1"], "new_postcode": "1000001", "new_address": "x"}
    _, late = clean_answers(proc, {**base, "planned_date": "2027-03-01"}, today=TODAY)
    _, early = clean_answers(proc, {**base, "planned_date": "2026-11-01"}, today=TODAY)
    assert [p["code"] for p in late] == ["date_too_late"]
    assert [p["code"] for p in early] == ["date_too_early"]


def test_repeating_group_children_and_bank_account() -> None:
    proc = _proc("child-allowance")
    answers = {
        "children": [
            {
                "name": "見本 一郎",
                "kana": "みほん いちろう",
                "birth_date": "R7.1.5",
                "lives_with": "on",
            },
            {"name": "見本 二郎", "kana": "Jiro", "birth_date": "2030-01-01"},
        ],
        "account": {
            "bank_code": "0001",
            "branch_code": "001",
            "account_type": "1",
            "account_number": "1234567",
            "holder_kana": "ﾐﾎﾝ ﾀﾛｳ",
        },
    }
    cleaned, problems = clean_answers(proc, answers, today=TODAY)
    assert {p["field"] for p in problems} == {"children.1.kana", "children.1.birth_date"}
    assert cleaned["children"][0]["kana"] == "ミホン　イチロウ"
    assert cleaned["children"][0]["lives_with"] is True
    assert cleaned["account"]["holder_kana"] == "ミホン　タロウ"
    assert cleaned["account"]["bank_name"]  # looked up in the bank master


def test_unknown_bank_is_reported_on_its_part() -> None:
    proc = _proc("child-allowance")
    answers = {
        "children": [{"name": "a", "kana": "ア", "birth_date": "2025-01-01"}],
        "account": {
            "bank_code": "9999",
            "branch_code": "001",
            "account_type": "1",
            "account_number": "1234567",
            "holder_kana": "ア",
        },
    }
    _, problems = clean_answers(proc, answers, today=TODAY)
    assert [p["field"] for p in problems] == ["account.bank_code"]


def test_group_needs_its_minimum_rows() -> None:
    _, problems = clean_answers(_proc("child-allowance"), {"children": []}, today=TODAY)
    assert "children" in {p["field"] for p in problems}


def test_payload_must_be_an_object() -> None:
    _, problems = clean_answers(_proc("inquiry"), ["x"], today=TODAY)
    assert problems[0]["code"] == "payload_not_object"


def test_keyword_search_matches_names_and_keywords() -> None:
    assert _proc("move-out").matches("引越し")
    assert _proc("move-out").matches("MOVING")
    assert not _proc("disaster-certificate").matches("引越し")


@given(st.text(alphabet="アイウエオカキクケコガギグゲゴャュョッー　", min_size=1, max_size=12))
def test_cleaned_answers_validate_again_unchanged(kana: str) -> None:
    """What the server stores (and the resident signs) passes validation as it is."""
    proc = _proc("child-allowance")
    answers = {
        "children": [{"name": "見本", "kana": kana, "birth_date": "令和7年1月5日"}],
        "account": {
            "bank_code": "0001",
            "branch_code": "001",
            "account_type": "1",
            "account_number": "1234567",
            "holder_kana": "ミホン",
        },
    }
    cleaned, problems = clean_answers(proc, answers, today=TODAY)
    if problems:
        return
    again, problems2 = clean_answers(proc, cleaned, today=TODAY)
    assert problems2 == []
    assert again == cleaned


def test_bundles_assemble_each_procedure_from_shared_and_fixed_answers() -> None:
    death = bundles.get_bundle("death")
    assert death is not None
    nhi = _proc("nhi-withdraw")
    shared = {"event_date": "2026-11-20", "members": ["11111111111"], "email": "a@example.jp"}
    assembled = bundles.assemble(death, nhi, shared, {})
    # `map` routes the date of death to the end date; the reason is fixed for this event.
    assert assembled == {
        "reason": "death",
        "end_date": "2026-11-20",
        "members": ["11111111111"],
        "email": "a@example.jp",
    }
    assert clean_answers(nhi, assembled, today=TODAY)[1] == []
    assert bundles.own_fields(death, nhi) == []
    childbirth = bundles.get_bundle("childbirth")
    assert childbirth is not None
    own = bundles.own_fields(childbirth, _proc("child-allowance"))
    assert [f.id for page in own for f in page.fields] == ["children", "account"]


def test_a_bundle_naming_an_unknown_procedure_or_field_is_refused() -> None:
    data = {
        "id": "x",
        "life_event": "moving",
        "name": {"ja": "x", "en": "x"},
        "shared": [],
        "procedures": [{"id": "nope"}, {"id": "inquiry", "answers": {"colour": "red"}}],
    }
    problems = bundles.bundle_problems(data, catalog.standard_procedures())
    assert any("nope" in p for p in problems) and any("colour" in p for p in problems)
