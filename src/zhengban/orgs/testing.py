"""Builders for tests of every app: a small real org tree in the real database."""

from __future__ import annotations

from dataclasses import dataclass

from zhengban.orgs import services
from zhengban.orgs.choices import RegionLevel, Role, UnitType
from zhengban.orgs.models import Region, Unit, User
from zhengban.orgs.validators import make_credit_code

TEST_PASSWORD = "Zb-test-Passw0rd"


_serial = [0]


def make_unit(region: Region, name: str, *, parent: Unit | None = None, **fields) -> Unit:
    _serial[0] += 1
    fields.setdefault("unit_type", UnitType.GOVERNMENT_AGENCY)
    fields.setdefault("credit_code", make_credit_code(region.code, _serial[0]))
    return services.create_unit(actor=None, name=name, region=region, parent=parent, **fields)


def make_person(username: str, unit: Unit | None, *roles: str, **fields) -> User:
    return services.create_person(
        actor=None,
        username=username,
        full_name=fields.pop("full_name", username),
        unit=unit,
        password=TEST_PASSWORD,
        roles=list(roles),
        **fields,
    )


@dataclass
class OrgTree:
    province: Region
    city_a: Region
    city_b: Region
    county_a1: Region
    province_bureau: Unit
    bureau_a: Unit
    bureau_b: Unit
    unit_a: Unit  # in county_a1
    unit_a_child: Unit  # affiliated body of unit_a
    unit_b: Unit  # in city_b
    officer_a: User
    officer_b: User
    staff_a: User
    head_a: User
    supervisor_a: User  # city_a bureau: sees city_a subtree
    supervisor_province: User
    sysadmin: User
    secadmin: User
    audit_admin: User


def build_org_tree() -> OrgTree:
    province = services.create_region(
        actor=None, code="370000", name="山东省", level=RegionLevel.PROVINCE
    )
    city_a = services.create_region(
        actor=None, code="370100", name="济南市", level=RegionLevel.CITY, parent=province
    )
    city_b = services.create_region(
        actor=None, code="370200", name="青岛市", level=RegionLevel.CITY, parent=province
    )
    county_a1 = services.create_region(
        actor=None, code="370102", name="历下区", level=RegionLevel.COUNTY, parent=city_a
    )
    province_bureau = make_unit(province, "山东省版权局", is_copyright_bureau=True)
    bureau_a = make_unit(city_a, "济南市版权局", is_copyright_bureau=True)
    bureau_b = make_unit(city_b, "青岛市版权局", is_copyright_bureau=True)
    unit_a = make_unit(county_a1, "历下区财政局", headcount=40)
    unit_a_child = make_unit(
        county_a1, "历下区财政局国库支付中心", parent=unit_a, unit_type=UnitType.PUBLIC_INSTITUTION
    )
    unit_b = make_unit(city_b, "青岛市教育局", headcount=120)
    return OrgTree(
        province=province,
        city_a=city_a,
        city_b=city_b,
        county_a1=county_a1,
        province_bureau=province_bureau,
        bureau_a=bureau_a,
        bureau_b=bureau_b,
        unit_a=unit_a,
        unit_a_child=unit_a_child,
        unit_b=unit_b,
        officer_a=make_person("officer_a", unit_a, Role.SAM_OFFICER, Role.APPROVER),
        officer_b=make_person("officer_b", unit_b, Role.SAM_OFFICER),
        staff_a=make_person("staff_a", unit_a, Role.STAFF),
        head_a=make_person("head_a", unit_a, Role.HEAD),
        supervisor_a=make_person("supervisor_a", bureau_a, Role.SUPERVISOR),
        supervisor_province=make_person("supervisor_p", province_bureau, Role.SUPERVISOR),
        sysadmin=make_person("sysadmin", None, Role.SYSADMIN),
        secadmin=make_person("secadmin", None, Role.SECADMIN),
        audit_admin=make_person("auditadmin", None, Role.AUDIT_ADMIN),
    )
