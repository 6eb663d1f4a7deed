"""Pages and API: scoping (another unit's objects are a 404), roles, and what each shows."""

import datetime

import pytest
from django.urls import reverse

from zhengban.governance import services
from zhengban.governance import testing as t
from zhengban.governance.choices import RequestAction, RequestStatus, RuleKind
from zhengban.governance.models import Violation
from zhengban.orgs.choices import Role
from zhengban.orgs.testing import make_person

T1 = t.T0 + datetime.timedelta(days=1)


@pytest.fixture
def world(gov):
    spec = services.create_spec(actor=None, unit=gov.org.unit_a, name="历下区财政局配置规范")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.REQUIRED, category="antivirus")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.FREE, product=t.product("7zip"))
    # The unit owns a Photoshop licence, so the private install is the one violation here.
    t.buy(gov.org.unit_a, "adobe-photoshop", quantity=1)
    t.ingest(gov.org.unit_a, "dev-a1", [t.WPS, t.TIANQING, t.PHOTOSHOP], received=T1)
    request = services.submit_request(
        actor=gov.staff,
        device=gov.device,
        action=RequestAction.INSTALL,
        product=t.product("huorong"),
        reason="更换杀毒软件",
        now=T1,
    )
    return gov, spec, request, Violation.objects.get()


def get(client, user, url):
    client.force_login(user)
    return client.get(url)


@pytest.mark.django_db
def test_unit_b_sees_none_of_unit_a(client, world):
    gov, spec, request, violation = world
    outsider = make_person("approver_b", gov.org.unit_b, Role.APPROVER, Role.SAM_OFFICER)
    for url in (
        reverse("governance:request_detail", args=[request.pk]),
        reverse("governance:violation_detail", args=[violation.pk]),
        reverse("governance:spec_detail", args=[spec.pk]),
    ):
        assert get(client, outsider, url).status_code == 404, url
    response = client.post(
        reverse("governance:request_decide", args=[request.pk]), {"decision": "approve"}
    )
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    for endpoint in ("requests", "violations", "specs"):
        data = get(client, outsider, f"/api/v1/governance/{endpoint}/").json()
        assert data["count"] == 0, endpoint
    table = get(client, outsider, reverse("governance:request_list")).context["table"]
    assert len(table.rows) == 0


@pytest.mark.django_db
def test_staff_see_only_their_own_requests_and_violations(client, world):
    gov, _spec, request, violation = world
    url = reverse("governance:request_detail", args=[request.pk])
    assert get(client, gov.colleague, url).status_code == 404
    assert get(client, gov.staff, url).status_code == 200
    assert get(client, gov.staff, "/api/v1/governance/violations/").json()["count"] == 1
    assert get(client, gov.colleague, "/api/v1/governance/violations/").json()["count"] == 0
    # Officers see the whole unit.
    data = get(client, gov.org.officer_a, "/api/v1/governance/requests/").json()
    assert [(r["id"], r["status"]) for r in data["results"]] == [(request.pk, "pending")]


@pytest.mark.django_db
def test_decision_through_the_page_in_steps(client, world):
    gov, _spec, request, _violation = world
    url = reverse("governance:request_detail", args=[request.pk])
    page = get(client, gov.org.officer_a, url)
    assert page.context["can_decide"] is False
    assert b'data-testid="decision-form"' not in page.content
    client.post(reverse("governance:request_decide", args=[request.pk]), {"decision": "approve"})
    request.refresh_from_db()
    assert request.steps.get(position=1).decision == "pending"

    page = get(client, gov.dept_head, url)
    assert page.context["can_decide"] is True
    queue = get(client, gov.dept_head, reverse("governance:request_queue"))
    assert [r.pk for r in queue.context["items"]] == [request.pk]
    client.post(
        reverse("governance:request_decide", args=[request.pk]),
        {"decision": "approve", "comment": "同意"},
    )
    get(client, gov.org.officer_a, url)
    client.post(reverse("governance:request_decide", args=[request.pk]), {"decision": "approve"})
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED


@pytest.mark.django_db
def test_staff_page_shows_what_may_be_installed(client, world):
    gov, *_ = world
    page = get(client, gov.staff, reverse("governance:mine"))
    assert page.status_code == 200
    rules = dict(page.context["rules"])
    assert [r.target_label for r in rules["必装"]] == ["杀毒与终端安全"]
    assert [r.target_label for r in rules["可使用免费软件"]] == ["7-Zip"]
    assert [d.pk for d in page.context["devices"]] == [gov.device.pk]
    assert [r.product.key for r in page.context["requests"]] == ["huorong"]


@pytest.mark.django_db
def test_request_form_creates_a_request(client, world):
    gov, *_ = world
    client.force_login(gov.staff)
    response = client.post(
        reverse("governance:request_create"),
        {
            "device": gov.device.pk,
            "action": "install",
            "product": t.product("7zip").pk,
            "reason": "解压文件",
        },
    )
    created = gov.staff.software_requests.get(product__key="7zip")
    assert response.status_code == 302
    assert response["Location"] == created.get_absolute_url()
    # Someone else's device is not offered.
    client.force_login(gov.colleague)
    response = client.post(
        reverse("governance:request_create"),
        {
            "device": gov.device.pk,
            "action": "install",
            "product": t.product("7zip").pk,
            "reason": "x",
        },
    )
    assert response.status_code == 200
    assert "device" in response.context["form"].errors


@pytest.mark.django_db
def test_supervisor_rates_page_draws_an_svg_chart(client, world):
    gov, *_ = world
    page = get(client, gov.org.supervisor_a, reverse("governance:rates"))
    assert page.status_code == 200
    assert [
        (r.name, r.devices, r.devices_with_violations, r.open_violations)
        for r in page.context["rows"]
    ] == [("历下区财政局", 1, 1, 1)]
    html = page.content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and "100.0%" in html
    assert "<script" not in html.split("<footer")[0].split("</header>")[1]
    # A city-B supervisor sees no unit of city A.
    other = make_person("supervisor_b", gov.org.bureau_b, Role.SUPERVISOR)
    assert [r.name for r in get(client, other, reverse("governance:rates")).context["rows"]] == [
        "青岛市教育局"
    ]
    assert get(client, gov.staff, reverse("governance:rates")).status_code == 403


@pytest.mark.django_db
def test_violation_page_explain_and_resolve(client, world):
    gov, _spec, _request, violation = world
    client.force_login(gov.staff)
    client.post(
        reverse("governance:violation_explain", args=[violation.pk]), {"explanation": "工作需要"}
    )
    client.force_login(gov.org.officer_a)
    client.post(
        reverse("governance:violation_resolve", args=[violation.pk]),
        {"resolution": "dismissed", "note": "经核实为单位采购的正版"},
    )
    violation.refresh_from_db()
    assert (
        violation.status,
        violation.explanation,
        violation.resolution,
        violation.resolved_by,
    ) == (
        "resolved",
        "工作需要",
        "dismissed",
        gov.org.officer_a,
    )


@pytest.mark.django_db
def test_every_page_renders_for_each_role(client, world):
    gov, spec, request, violation = world
    urls = [
        reverse("governance:mine"),
        reverse("governance:request_list"),
        reverse("governance:request_create"),
        reverse("governance:request_queue"),
        reverse("governance:spec_list"),
        reverse("governance:violation_list"),
        reverse("governance:campaign_list"),
        "/",
    ]
    for user in (gov.staff, gov.dept_head, gov.org.officer_a, gov.org.supervisor_a):
        for url in urls:
            assert get(client, user, url).status_code == 200, (user, url)
    for url in (
        reverse("governance:spec_detail", args=[spec.pk]),
        reverse("governance:request_detail", args=[request.pk]),
        reverse("governance:violation_detail", args=[violation.pk]),
        reverse("governance:workflow"),
        reverse("governance:spec_create"),
    ):
        assert get(client, gov.org.officer_a, url).status_code == 200, url
    assert get(client, gov.staff, reverse("governance:workflow")).status_code == 403
    assert (
        get(
            client, gov.org.officer_a, reverse("governance:violation_list") + "?export=xlsx"
        ).status_code
        == 200
    )
