import pytest

from tests import factories


@pytest.mark.django_db(transaction=True)
def test_clerk_logs_in_to_console(live_server, page):
    m = factories.municipality()
    factories.staff(m, "registry_clerk", username="e2e-clerk", display_name="E2E 担当")
    page.goto(f"{live_server.url}/console/")
    assert "/console/login/" in page.url
    # The design system's stylesheet is served (primary colour on the brand mark).
    colour = page.evaluate(
        "getComputedStyle(document.querySelector('.brand-mark')).backgroundColor"
    )
    assert colour == "rgb(0, 49, 216)"
    page.get_by_label("ユーザー名").fill("e2e-clerk")
    page.get_by_label("パスワード").fill("wrong-password")
    page.get_by_role("button", name="ログイン").click()
    assert page.get_by_role("alert").is_visible()
    page.get_by_label("パスワード").fill(factories.PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{live_server.url}/console/")
    assert page.get_by_role("heading", name="業務メニュー").is_visible()
    assert page.get_by_role("link", name="住民記録").first.is_visible()
    # The English switch works without JavaScript tricks.
    page.get_by_role("button", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
