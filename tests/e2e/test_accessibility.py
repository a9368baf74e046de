"""axe-core on the portal's procedure pages: no serious or critical violations."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.procedures.conftest import give_card, make_household, serve_static

BAD = {"serious", "critical"}


def violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    # Contrast is only judged with the real stylesheet in place.
    assert page.evaluate("document.styleSheets[0].cssRules.length") > 10
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in BAD
    ]


@pytest.mark.django_db(transaction=True)
def test_portal_procedure_pages_have_no_serious_violations(live_server: Any, phone: Any) -> None:
    from kiban.core.actors import staff_actor

    m = factories.municipality()
    h = make_household(m, staff_actor(factories.staff(m, "registry_clerk")))
    give_card(h.head)
    url = live_server.url
    serve_static(phone)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        found[name] = violations(phone)

    phone.goto(f"{url}/procedures/")
    check("catalog")
    phone.goto(f"{url}/procedures/child-allowance/")
    check("procedure")
    phone.goto(f"{url}/login/?next=/procedures/child-allowance/")
    phone.get_by_test_id(f"demo-login-{h.head.pk}").click()
    phone.get_by_role("button", name="申請を始める").click()
    check("form")
    phone.get_by_role("button", name="次へ").click()  # errors: summary + inline
    check("form-with-errors")
    phone.get_by_label("氏名", exact=True).fill("見本 一郎")
    phone.get_by_label("氏名（カナ）").fill("ミホン イチロウ")
    phone.get_by_label("生年月日").fill("令和7年1月5日")
    phone.get_by_role("button", name="次へ").click()
    check("bank-account")
    phone.get_by_label("金融機関コード（4桁）").fill("0001")
    phone.get_by_label("支店コード（3桁）").fill("001")
    phone.get_by_label("口座番号（7桁）").fill("1234567")
    phone.get_by_label("口座名義（カナ）").fill("ミホン タロウ")
    phone.get_by_role("button", name="次へ").click()
    phone.get_by_role("button", name="次へ").click()
    check("check-answers")
    phone.get_by_role("link", name="署名に進む").click()
    check("sign")
    phone.get_by_label("署名用電子証明書のパスワード").fill("DEMO1234")
    phone.get_by_role("button", name="署名して送信する").click()
    check("applications")
    phone.get_by_role("link", name="#", exact=False).first.click()
    check("application")
    assert {k: v for k, v in found.items() if v} == {}
