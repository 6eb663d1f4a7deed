"""Headless browser: a request walked from submission through both approval steps to the
install the agent then reports, matched to it. Debian's Chromium, driven by Playwright,
against a live server."""

import datetime
import os

import pytest

from zhengban.core.testing import set_audit_log_triggers
from zhengban.governance import services
from zhengban.governance import testing as t
from zhengban.governance.choices import RequestStatus, RuleKind
from zhengban.governance.models import SoftwareRequest, Violation
from zhengban.orgs.testing import TEST_PASSWORD

# One Chromium launch for the browser tests (it closes its database connections).
from zhengban.orgs.tests.test_browser import browser  # noqa: F401

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse
# database access from it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def _audit_triggers_back_after_module(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        set_audit_log_triggers(enabled=True)


@pytest.fixture(autouse=True)
def _flushable_audit_log(_audit_triggers_back_after_module, transactional_db):
    # As in orgs/tests/test_browser.py: the test runs with the append-only triggers; the
    # flush that ends it needs them gone.
    set_audit_log_triggers(enabled=True)
    yield
    set_audit_log_triggers(enabled=False)


@pytest.fixture
def new_page(browser):  # noqa: F811 (the imported fixture)
    contexts = []

    def make():
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    form = page.locator("[data-testid=login-form]")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(TEST_PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")


def approve(page, base_url: str, username: str, request_id: int) -> None:
    sign_in(page, base_url, username)
    page.goto(f"{base_url}/governance/requests/queue/")
    page.locator("[data-testid=queue]").get_by_role("link", name=f"#{request_id}").click()
    page.locator("[data-testid=decision-form] textarea").fill("同意")
    page.locator("[data-testid=approve]").click()
    page.wait_for_load_state()


def test_request_submitted_approved_in_two_steps_and_matched_to_the_install(
    org, live_server, new_page
):
    gov = t.build_gov_tree(org)
    spec = services.create_spec(actor=None, unit=org.unit_a, name="历下区财政局配置规范")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.REQUIRED, category="antivirus")
    photoshop = t.product("adobe-photoshop")
    # A licence the unit holds for it: the matched install is then licensed as well.
    t.buy(org.unit_a, "adobe-photoshop", quantity=1)
    base = live_server.url

    # The staff member asks for Photoshop on their computer.
    staff = new_page()
    sign_in(staff, base, "zhang_a")
    staff.goto(f"{base}/governance/mine/")
    staff.locator("[data-testid=new-request]").click()
    form = staff.locator("[data-testid=object-form]")
    form.locator("select[name=device]").select_option(str(gov.device.pk))
    form.locator("select[name=action]").select_option("install")
    form.locator("select[name=product]").select_option(str(photoshop.pk))
    form.locator("textarea[name=reason]").fill("制作宣传海报")
    form.locator("[data-testid=submit]").click()
    staff.wait_for_url(f"{base}/governance/requests/*/")
    request = SoftwareRequest.objects.get(requester=gov.staff)
    assert staff.locator("[data-testid=request-status]").inner_text() == "审批中"
    # The requester gets no decision buttons on their own request.
    assert staff.locator("[data-testid=decision-form]").count() == 0

    # Department head first, then the SAM officer.
    approve(new_page(), base, "dept_head_a", request.pk)
    request.refresh_from_db()
    assert (request.status, request.steps.get(position=1).decision) == ("pending", "approved")
    officer = new_page()
    approve(officer, base, "officer_a", request.pk)
    assert officer.locator("[data-testid=request-status]").inner_text() == "已批准"
    steps = officer.locator("[data-testid=steps] tbody tr").all_inner_texts()
    assert [row.split("\t")[:4] for row in steps] == [
        ["1", "部门负责人", "同意", "dept_head_a"],
        ["2", "具体负责人", "同意", "officer_a"],
    ]

    # The agent reports the install; the request is fulfilled and no violation is raised.
    request.refresh_from_db()
    seen = request.decided_at + datetime.timedelta(hours=2)
    t.ingest(org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=seen)
    staff.reload()
    assert staff.locator("[data-testid=request-status]").inner_text() == "已执行"
    assert staff.locator("[data-testid=matched-installation]").inner_text() == (
        "Adobe Photoshop 2023 24.0"
    )
    request.refresh_from_db()
    assert (request.status, request.fulfilled_at) == (RequestStatus.FULFILLED, seen)
    assert Violation.objects.count() == 0
