"""Headless browser: the city bureau sets a price cap on its licensing policy page, the unit
below sees it inherited, the unit's SAM officer scraps a software asset and finds it in the
disposals list, and the bureau goes back to inheriting. Debian's Chromium, driven by
Playwright, against a live server."""

import datetime
from decimal import Decimal

import pytest

from zhengban.licensing import services
from zhengban.licensing.choices import Metric, Term
from zhengban.licensing.models import AssetDisposal, LicensingPolicy
from zhengban.licensing.testing import install, make_device, product

# The browser fixture and sign-in of the orgs browser tests (importing the module also lets
# Django serve the live server from Playwright's event-loop thread).
from zhengban.orgs.tests.test_browser import browser, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def new_page(browser):  # noqa: F811
    contexts = []

    def make():
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def policy_row(page, field: str) -> list[str]:
    """The policy table's row: label, value, origin, fallback."""
    return page.locator(f"[data-testid=policy] tr[data-field={field}] td").all_inner_texts()


def test_bureau_sets_a_price_cap_and_the_officer_scraps_an_asset(org, live_server, new_page):
    base = live_server.url
    # A software asset of the unit: 2 seats at 300 yuan, over the 500-yuan asset threshold.
    install(make_device(org.unit_a, "pc1"), "winrar", "WinRAR 6.24 (64-bit)", "6.24.0")
    ent = services.create_entitlement(
        actor=None,
        unit=org.unit_a,
        product=product("winrar"),
        metric=Metric.PER_DEVICE,
        term=Term.PERPETUAL,
        quantity=2,
        unit_price=Decimal("300"),
        purchased_on=datetime.date(2020, 5, 1),
    )

    # The city's copyright bureau opens its policy page and lowers the office-suite cap.
    bureau = new_page()
    sign_in(bureau, base, "supervisor_a")
    bureau.goto(f"{base}/licensing/policy/")
    assert bureau.locator("h1").inner_text() == "授权与资产标准:济南市"
    assert policy_row(bureau, "office_cap")[1:] == ["600 元", "默认值", "600"]
    assert bureau.locator("[data-testid=policy-inherit]").count() == 0  # nothing of its own
    bureau.locator("[data-testid=policy-edit]").click()
    form = bureau.locator("[data-testid=object-form]")
    form.locator("input[name=office_cap]").fill("550")
    form.locator("[data-testid=submit]").click()
    bureau.wait_for_url(f"{base}/licensing/policy/regions/{org.city_a.pk}/")
    assert policy_row(bureau, "office_cap")[1:] == ["550.00 元", "本区划设定", "600"]
    assert bureau.locator("[data-testid=policy-inherit]").inner_text() == "恢复沿用上级标准"
    assert LicensingPolicy.objects.get(region=org.city_a).office_cap == Decimal("550")

    # The unit's SAM officer, in a county of that city, sees the cap inherited.
    officer = new_page()
    sign_in(officer, base, "officer_a")
    officer.goto(f"{base}/licensing/policy/")
    assert officer.locator("h1").inner_text() == "授权与资产标准:历下区"
    assert policy_row(officer, "office_cap")[1:] == ["550.00 元", "继承自济南市", "600"]
    assert officer.locator("[data-testid=policy-edit]").count() == 0
    assert officer.locator("[data-testid=policy-inherit]").count() == 0

    # The officer scraps the asset from its card: all remaining seats, with a reason.
    officer.goto(f"{base}/licensing/assets/")
    officer.locator("[data-testid=asset-cards] [data-testid=dispose]").click()
    officer.wait_for_url(f"{base}/licensing/entitlements/{ent.pk}/dispose/")
    form = officer.locator("[data-testid=object-form]")
    form.locator("select[name=method]").select_option("scrap")
    form.locator("input[name=date]").fill("2026-03-04")
    form.locator("input[name=approval]").fill("历财资〔2026〕3号")
    form.locator("textarea[name=reason]").fill("随硬件报废")
    form.locator("[data-testid=submit]").click()
    officer.wait_for_url(f"{base}/licensing/entitlements/{ent.pk}/")
    assert list(
        AssetDisposal.objects.values_list("entitlement", "method", "date", "quantity", "reason")
    ) == [(ent.pk, "scrap", datetime.date(2026, 3, 4), None, "随硬件报废")]

    # It is in the disposals list; all remaining seats read 全部, as in the export.
    officer.goto(f"{base}/licensing/disposals/")
    heads = officer.locator("#table-area table thead th").all_inner_texts()
    rows = [
        row.split("\t") for row in officer.locator("#table-area table tbody tr").all_inner_texts()
    ]
    assert [dict(zip(heads, row, strict=True)) for row in rows] == [
        {
            "资产": "WinRAR",
            "单位": "历下区财政局",
            "处置方式": "报废",
            "接收单位": "—",
            "处置日期": "2026年3月4日",
            "处置数量": "全部",
            "批准文号": "历财资〔2026〕3号",
            "处置原因": "随硬件报废",
        }
    ]

    # The city bureau goes back to the province's (here: the default) standard. Cancelling
    # the confirmation changes nothing.
    bureau.goto(f"{base}/licensing/policy/")
    bureau.once("dialog", lambda dialog: dialog.dismiss())
    bureau.locator("[data-testid=policy-inherit]").click()
    assert LicensingPolicy.objects.filter(region=org.city_a).count() == 1
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    bureau.once("dialog", accept)
    bureau.locator("[data-testid=policy-inherit]").click()
    bureau.wait_for_selector(".messages")
    assert dialogs == ["删除本区划自己的标准,恢复沿用上级区划的标准？"]
    assert bureau.url == f"{base}/licensing/policy/regions/{org.city_a.pk}/"
    assert bureau.locator(".messages").inner_text() == "已恢复沿用上级区划的标准。"
    assert policy_row(bureau, "office_cap")[1:] == ["600 元", "默认值", "600"]
    assert bureau.locator("[data-testid=policy-inherit]").count() == 0
    assert LicensingPolicy.objects.count() == 0
