"""Headless-browser test: Debian's Chromium driven by Playwright against a live server, to see
what a supervisor and a unit officer really get on their screens."""

import io
import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

from zhengban.orgs.models import Unit
from zhengban.orgs.testing import TEST_PASSWORD

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse
# database access from it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[4] / "docs" / "screenshot-home.png"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"{CHROMIUM} is missing: run scripts/install-system-deps.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        # While Playwright runs, its event loop counts as running in this thread, so Django
        # kept this thread's connections in an async-context storage that the test database
        # teardown (after Playwright stops) no longer sees: close them here, or the teardown
        # finds "1 other session" on the database.
        connections.close_all()
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, base_url: str, username: str, password: str = TEST_PASSWORD) -> None:
    page.goto(f"{base_url}/login/")
    form = page.locator("[data-testid=login-form]")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")


def unit_names_on_list(page, base_url: str) -> list[str]:
    page.goto(f"{base_url}/orgs/units/")
    return sorted(page.locator("#table-area table tbody tr td:first-child").all_inner_texts())


def test_province_supervisor_sees_every_unit_of_the_province(org, live_server, page):
    sign_in(page, live_server.url, "supervisor_p")
    assert page.locator("[data-testid=current-user]").inner_text() == (
        "supervisor_p · 山东省版权局"
    )
    expected = sorted(
        Unit.objects.filter(region__path__startswith="/370000/").values_list("name", flat=True)
    )
    assert len(expected) == 6
    assert unit_names_on_list(page, live_server.url) == expected


def test_unit_officer_sees_own_unit_and_affiliates_only(org, live_server, page):
    sign_in(page, live_server.url, "officer_a")
    assert unit_names_on_list(page, live_server.url) == ["历下区财政局", "历下区财政局国库支付中心"]
    own = page.goto(f"{live_server.url}/orgs/units/{org.unit_a.pk}/")
    assert own.status == 200
    assert page.locator("h1").first.inner_text() == "历下区财政局"
    other = page.goto(f"{live_server.url}/orgs/units/{org.unit_b.pk}/")
    assert other.status == 404
    assert "青岛市教育局" not in page.content()


def test_wrong_password_five_times_locks_the_account(org, live_server, page):
    for _attempt in range(5):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "staff_a")
        page.fill("input[name=password]", "wrong-password")
        page.click("[data-testid=login-form] button[type=submit]")
    assert page.locator("[data-testid=locked-out]").is_visible()


@pytest.mark.skipif(
    os.environ.get("ZHENGBAN_SCREENSHOTS") != "1", reason="set ZHENGBAN_SCREENSHOTS=1"
)
def test_home_page_screenshot(live_server, page):
    """The README's screenshot, of the demo data as the province supervisor sees it:
    ZHENGBAN_SCREENSHOTS=1 pytest src/zhengban/orgs/tests/test_browser.py -k screenshot"""
    from django.core.management import call_command

    from zhengban.core.demo import DEMO_PASSWORD

    call_command("demo", stdout=io.StringIO())
    sign_in(page, live_server.url, "supervisor", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert SCREENSHOT.stat().st_size > 10_000
