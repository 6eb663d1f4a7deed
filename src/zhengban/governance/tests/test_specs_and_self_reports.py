"""Configuration specs (templates adopted and adjusted, by department or post) and staff
self-report campaigns with commitment letters."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from zhengban.governance import services
from zhengban.governance import testing as t
from zhengban.governance.choices import RuleKind
from zhengban.governance.models import CommitmentLetter, ConfigurationSpec, SpecRule
from zhengban.orgs.choices import Role
from zhengban.orgs.testing import make_person

T1 = t.T0 + datetime.timedelta(days=1)


def rule_rows(spec):
    return sorted((r.kind, r.target_label) for r in spec.rules.all())


@pytest.mark.django_db
def test_region_template_is_adopted_as_a_copy_with_a_link_back(gov):
    org = gov.org
    with pytest.raises(PermissionDenied):
        services.create_spec(actor=org.supervisor_a, region=org.province, name="省模板")
    template = services.create_spec(
        actor=org.supervisor_province, region=org.province, name="山东省党政机关软件配置规范"
    )
    services.add_rule(
        actor=org.supervisor_province, spec=template, kind=RuleKind.REQUIRED, category="antivirus"
    )
    services.add_rule(
        actor=org.supervisor_province,
        spec=template,
        kind=RuleKind.PROHIBITED,
        family=t.product("360-safe").family,
    )
    # Units of the province see the template; a unit officer may not edit it.
    assert list(ConfigurationSpec.objects.visible_to(org.officer_a)) == [template]
    with pytest.raises(PermissionDenied):
        services.add_rule(actor=org.officer_a, spec=template, kind=RuleKind.FREE, category="media")

    copy = services.adopt_template(actor=org.officer_a, template=template, unit=org.unit_a)
    services.add_rule(actor=org.officer_a, spec=copy, kind=RuleKind.FREE, product=t.product("7zip"))
    assert (copy.unit, copy.adopted_from, copy.name) == (org.unit_a, template, template.name)
    assert rule_rows(copy) == [
        ("free", "7-Zip"),
        ("prohibited", "360安全卫士"),
        ("required", "杀毒与终端安全"),
    ]
    assert rule_rows(template) == [("prohibited", "360安全卫士"), ("required", "杀毒与终端安全")]
    # Officer B sees the template (same province) and its own specs, not unit A's copy.
    assert list(ConfigurationSpec.objects.visible_to(org.officer_b)) == [template]


@pytest.mark.django_db
def test_a_city_template_does_not_apply_to_another_city(gov):
    org = gov.org
    city_a_template = services.create_spec(
        actor=org.supervisor_a, region=org.city_a, name="济南市模板"
    )
    assert list(ConfigurationSpec.objects.visible_to(org.officer_b)) == []
    with pytest.raises(ValidationError):
        services.adopt_template(actor=org.officer_b, template=city_a_template, unit=org.unit_b)


@pytest.mark.django_db
def test_specs_by_department_and_post_merge_and_prohibited_wins(gov):
    org = gov.org
    unit_wide = services.create_spec(actor=org.officer_a, unit=org.unit_a, name="全员")
    office = services.create_spec(
        actor=org.officer_a, unit=org.unit_a, name="办公室", department=gov.office
    )
    clerks = services.create_spec(actor=org.officer_a, unit=org.unit_a, name="科员", post="科员")
    other_dept = services.create_spec(
        actor=org.officer_a,
        unit=org.unit_a,
        name="信息科",
        department=org.unit_a.departments.create(name="信息科"),
    )
    photoshop = t.product("adobe-photoshop")
    services.add_rule(actor=None, spec=unit_wide, kind=RuleKind.ALLOWED, category="design")
    services.add_rule(actor=None, spec=office, kind=RuleKind.FREE, product=t.product("7zip"))
    services.add_rule(actor=None, spec=clerks, kind=RuleKind.PROHIBITED, product=photoshop)
    services.add_rule(actor=None, spec=other_dept, kind=RuleKind.REQUIRED, category="database")
    staff_spec = services.effective_spec_for_person(gov.staff)  # 办公室, 科员
    assert sorted(r.spec.name for r in staff_spec.rules) == ["全员", "办公室", "科员"]
    assert staff_spec.classify(photoshop) == RuleKind.PROHIBITED
    assert staff_spec.classify(t.product("7zip")) == RuleKind.FREE
    assert services.effective_spec_for_person(gov.dept_head).classify(photoshop) == (
        RuleKind.ALLOWED
    )
    # An inactive spec no longer counts.
    services.set_spec_active(actor=org.officer_a, spec=clerks, active=False)
    assert services.effective_spec_for_person(gov.staff).classify(photoshop) == RuleKind.ALLOWED


@pytest.mark.django_db
def test_a_target_appears_once_per_spec_and_rules_name_one_target(gov):
    spec = services.create_spec(actor=None, unit=gov.org.unit_a, name="规范")
    services.add_rule(actor=None, spec=spec, kind=RuleKind.ALLOWED, product=t.product("7zip"))
    with pytest.raises(ValidationError):
        services.add_rule(
            actor=None, spec=spec, kind=RuleKind.PROHIBITED, product=t.product("7zip")
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        SpecRule.objects.create(spec=spec, kind=RuleKind.ALLOWED, category="")
    with pytest.raises(IntegrityError), transaction.atomic():
        ConfigurationSpec.objects.create(name="x", unit=gov.org.unit_a, region=gov.org.province)


@pytest.mark.django_db
def test_self_report_prefilled_confirmed_and_differences_flagged(gov):
    org = gov.org
    with pytest.raises(PermissionDenied):
        services.open_campaign(
            actor=gov.staff, unit=org.unit_a, title="x", opens=T1.date(), due=T1.date()
        )
    campaign = services.open_campaign(
        actor=org.officer_a,
        unit=org.unit_a,
        title="2026年上半年软件使用自查",
        opens=datetime.date(2026, 3, 1),
        due=datetime.date(2026, 3, 31),
    )
    report = campaign.reports.get(person=gov.staff)
    lines = {line.name: line for line in report.lines.all()}
    assert sorted(lines) == [
        "Microsoft Windows 10 专业版",
        "WPS Office 专业版",
        "奇安信天擎终端安全管理系统",
    ]
    assert campaign.reports.count() == org.unit_a.people.count()
    with pytest.raises(PermissionDenied):
        services.submit_self_report(actor=gov.colleague, report=report, confirmed_line_ids=[])
    services.submit_self_report(
        actor=gov.staff,
        report=report,
        confirmed_line_ids=[lines["WPS Office 专业版"].pk, lines["Microsoft Windows 10 专业版"].pk],
        declared=[services.DeclaredSoftware(device=gov.device, name="CAJViewer", version="7.3")],
        now=T1,
    )
    report.refresh_from_db()
    assert (report.status, report.submitted_at, report.differences) == ("submitted", T1, 2)
    assert sorted(
        (line.name, line.origin, line.confirmed, line.difference) for line in report.lines.all()
    ) == [
        ("CAJViewer", "declared", True, "not_in_inventory"),
        ("Microsoft Windows 10 专业版", "inventory", True, ""),
        ("WPS Office 专业版", "inventory", True, ""),
        ("奇安信天擎终端安全管理系统", "inventory", False, "not_confirmed"),
    ]
    with pytest.raises(ValidationError):
        services.submit_self_report(actor=gov.staff, report=report, confirmed_line_ids=[])


@pytest.mark.django_db
def test_commitment_letter_once_a_year(gov):
    letter = services.sign_commitment(actor=gov.staff, year=2026, now=T1)
    assert (letter.unit, letter.person, letter.year, letter.signed_at) == (
        gov.org.unit_a,
        gov.staff,
        2026,
        T1,
    )
    with pytest.raises(ValidationError):
        services.sign_commitment(actor=gov.staff, year=2026)
    services.sign_commitment(actor=gov.staff, year=2027)
    assert (
        list(CommitmentLetter.objects.visible_to(gov.org.officer_b).values_list("year", flat=True))
        == []
    )
    outsider = make_person("staff_b2", gov.org.unit_b, Role.STAFF)
    assert CommitmentLetter.objects.visible_to(outsider).count() == 0


@pytest.mark.django_db
def test_officer_sees_commitment_progress(client, gov):
    from django.utils import timezone

    services.sign_commitment(actor=gov.staff, year=timezone.localdate().year)
    client.force_login(gov.org.officer_a)
    page = client.get("/governance/self-reports/")
    people = gov.org.unit_a.people.filter(is_active=True).count()
    assert page.context["commitments"]["signed"] == 1
    assert page.context["commitments"]["people"] == people
    client.force_login(gov.staff)
    assert client.get("/governance/self-reports/").context["commitments"] is None


@pytest.mark.django_db
def test_a_staff_member_sees_only_their_own_report_in_the_campaign_counts(client, gov):
    org = gov.org
    campaign = services.open_campaign(
        actor=org.officer_a,
        unit=org.unit_a,
        title="2026年上半年软件使用自查",
        opens=datetime.date(2026, 3, 1),
        due=datetime.date(2026, 3, 31),
    )
    colleague_report = campaign.reports.get(person=gov.colleague)
    services.submit_self_report(
        actor=gov.colleague, report=colleague_report, confirmed_line_ids=[], now=T1
    )

    def counts(user) -> list[tuple[str, int, int, int]]:
        client.force_login(user)
        return [
            (c.title, c.submitted, c.people, c.differing)
            for c in client.get("/governance/self-reports/").context["campaigns"]
        ]

    people = campaign.reports.count()
    assert counts(org.officer_a) == [("2026年上半年软件使用自查", 1, people, 0)]
    # The staff member's own report, not submitted: not how many colleagues did.
    assert counts(gov.staff) == [("2026年上半年软件使用自查", 0, 1, 0)]


@pytest.mark.django_db
def test_templates_below_a_unit_region_are_not_offered_to_it(gov):
    org = gov.org
    county = services.create_spec(actor=None, region=org.county_a1, name="历下区模板")
    province = services.create_spec(actor=None, region=org.province, name="省模板")
    assert sorted(s.name for s in ConfigurationSpec.objects.visible_to(org.officer_a)) == [
        "历下区模板",
        "省模板",
    ]
    # A province-level unit sees only the province's template; the city bureau both above
    # and below it.
    province_unit_officer = make_person("officer_p", org.province_bureau, Role.SAM_OFFICER)
    assert list(ConfigurationSpec.objects.visible_to(province_unit_officer)) == [province]
    assert sorted(s.name for s in ConfigurationSpec.objects.visible_to(org.supervisor_a)) == [
        "历下区模板",
        "省模板",
    ]
    assert county.pk != province.pk
