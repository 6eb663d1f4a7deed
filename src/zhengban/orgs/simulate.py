"""Simulator part: a believable province of regions, copyright bureaus, units of every type,
departments and people. Bulk writes: at 5,000 units and 100,000 people, per-row services
would take minutes; the rows are the same the services would write, and the part writes one
audit record for the whole run."""

from __future__ import annotations

from django.db import transaction

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.simulation import SimulationContext, register
from zhengban.orgs.choices import MechanismRole, RegionLevel, Role, UnitType
from zhengban.orgs.models import Department, MechanismMember, Region, RoleGrant, Unit, User
from zhengban.orgs.validators import credit_code_check_char

PROVINCE = ("390000", "江海省")
CITY_NAMES = [
    "东州", "西陵", "南湖", "北川", "云阳", "临江", "青山", "白石", "金沙", "安平", "长宁",
    "永和", "兴安", "广德", "河阳", "松原", "柳城", "桃源", "凤翔", "龙泉",
]  # fmt: skip
COUNTY_NAMES = [
    "城关区", "新华区", "高新区", "开发区", "东城区", "西城区", "清河县", "平安县", "富阳县",
    "石门县", "江口县", "沙河县", "宁远县", "长乐县", "安仁县", "永丰县", "大泽县", "双峰县",
]  # fmt: skip

# (name, unit type, departments); the first part are the organs every level has.
AGENCIES: list[tuple[str, str]] = [
    ("人民政府办公室", UnitType.GOVERNMENT_AGENCY),
    ("发展和改革委员会", UnitType.GOVERNMENT_AGENCY),
    ("教育局", UnitType.GOVERNMENT_AGENCY),
    ("科学技术局", UnitType.GOVERNMENT_AGENCY),
    ("工业和信息化局", UnitType.GOVERNMENT_AGENCY),
    ("公安局", UnitType.GOVERNMENT_AGENCY),
    ("民政局", UnitType.GOVERNMENT_AGENCY),
    ("司法局", UnitType.GOVERNMENT_AGENCY),
    ("财政局", UnitType.GOVERNMENT_AGENCY),
    ("人力资源和社会保障局", UnitType.GOVERNMENT_AGENCY),
    ("自然资源局", UnitType.GOVERNMENT_AGENCY),
    ("生态环境局", UnitType.GOVERNMENT_AGENCY),
    ("住房和城乡建设局", UnitType.GOVERNMENT_AGENCY),
    ("交通运输局", UnitType.GOVERNMENT_AGENCY),
    ("水利局", UnitType.GOVERNMENT_AGENCY),
    ("农业农村局", UnitType.GOVERNMENT_AGENCY),
    ("商务局", UnitType.GOVERNMENT_AGENCY),
    ("文化和旅游局", UnitType.GOVERNMENT_AGENCY),
    ("卫生健康委员会", UnitType.GOVERNMENT_AGENCY),
    ("退役军人事务局", UnitType.GOVERNMENT_AGENCY),
    ("应急管理局", UnitType.GOVERNMENT_AGENCY),
    ("审计局", UnitType.GOVERNMENT_AGENCY),
    ("市场监督管理局", UnitType.GOVERNMENT_AGENCY),
    ("统计局", UnitType.GOVERNMENT_AGENCY),
    ("医疗保障局", UnitType.GOVERNMENT_AGENCY),
    ("林业局", UnitType.GOVERNMENT_AGENCY),
    ("信访局", UnitType.GOVERNMENT_AGENCY),
    ("机关事务管理局", UnitType.GOVERNMENT_AGENCY),
    ("税务局", UnitType.GOVERNMENT_AGENCY),
    ("气象局", UnitType.GOVERNMENT_AGENCY),
    ("人民法院", UnitType.OTHER_STATE_ORGAN),
    ("人民检察院", UnitType.OTHER_STATE_ORGAN),
    ("人大常委会办公室", UnitType.OTHER_STATE_ORGAN),
    ("政协办公室", UnitType.OTHER_STATE_ORGAN),
    ("监察委员会", UnitType.OTHER_STATE_ORGAN),
    ("总工会", UnitType.PEOPLES_ORGANISATION),
    ("共青团委员会", UnitType.PEOPLES_ORGANISATION),
    ("妇女联合会", UnitType.PEOPLES_ORGANISATION),
    ("科学技术协会", UnitType.PEOPLES_ORGANISATION),
    ("文学艺术界联合会", UnitType.EXEMPT_SOCIAL_GROUP),
    ("残疾人联合会", UnitType.EXEMPT_SOCIAL_GROUP),
    ("红十字会", UnitType.EXEMPT_SOCIAL_GROUP),
    ("归国华侨联合会", UnitType.EXEMPT_SOCIAL_GROUP),
    ("作家协会", UnitType.EXEMPT_SOCIAL_GROUP),
    ("疾病预防控制中心", UnitType.PUBLIC_INSTITUTION),
    ("人民医院", UnitType.PUBLIC_INSTITUTION),
    ("中医院", UnitType.PUBLIC_INSTITUTION),
    ("第一中学", UnitType.PUBLIC_INSTITUTION),
    ("实验小学", UnitType.PUBLIC_INSTITUTION),
    ("图书馆", UnitType.PUBLIC_INSTITUTION),
    ("档案馆", UnitType.PUBLIC_INSTITUTION),
    ("博物馆", UnitType.PUBLIC_INSTITUTION),
    ("政务服务中心", UnitType.PUBLIC_INSTITUTION),
    ("大数据中心", UnitType.PUBLIC_INSTITUTION),
    ("不动产登记中心", UnitType.PUBLIC_INSTITUTION),
    ("社会保险事业中心", UnitType.PUBLIC_INSTITUTION),
    ("公共资源交易中心", UnitType.PUBLIC_INSTITUTION),
    ("融媒体中心", UnitType.PUBLIC_INSTITUTION),
    ("职业中等专业学校", UnitType.PUBLIC_INSTITUTION),
    ("农业技术推广中心", UnitType.PUBLIC_INSTITUTION),
]
AFFILIATE_SUFFIXES = [
    "信息中心", "服务中心", "综合执法支队", "研究所", "培训中心", "事务中心", "监测站", "保障中心",
]  # fmt: skip
DEPARTMENTS = ["办公室", "综合科", "财务科", "人事科", "信息中心", "业务一科", "业务二科", "法规科"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅玉兰鹏辉志斌晨宇浩然欣怡子涵雨轩思远文博佳琪海燕春生振华德明"


def person_name(rng) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def credit_code(region_code: str, serial: int, unit_type: str) -> str:
    # Registration authority 1 (机构编制) with org class 1 (机关) or 2 (事业单位); 5/8 for
    # groups registered elsewhere: close enough to what real codes of each type look like.
    prefix = {
        UnitType.PUBLIC_INSTITUTION: "12",
        UnitType.PEOPLES_ORGANISATION: "13",
        UnitType.EXEMPT_SOCIAL_GROUP: "13",
    }.get(unit_type, "11")
    body = f"{prefix}{region_code}{serial:09d}"
    return body + credit_code_check_char(body)


@register("orgs", order=10)
@transaction.atomic
def simulate_orgs(ctx: SimulationContext) -> None:
    rng = ctx.rng("orgs")
    size = ctx.size
    province = Region.objects.create(
        code=PROVINCE[0], name=PROVINCE[1], level=RegionLevel.PROVINCE, path=f"/{PROVINCE[0]}/"
    )
    cities: list[Region] = []
    for i in range(size.cities):
        code = f"{PROVINCE[0][:2]}{i + 1:02d}00"
        name = CITY_NAMES[i % len(CITY_NAMES)] + ("市" if i < len(CITY_NAMES) else f"{i}市")
        cities.append(
            Region(code=code, name=name, level=RegionLevel.CITY, parent=province, path="")
        )
    for city in cities:
        city.path = f"{province.path}{city.code}/"
    Region.objects.bulk_create(cities)
    counties: list[Region] = []
    for i in range(size.counties):
        city = cities[i % len(cities)]
        n = i // len(cities) + 1
        code = f"{city.code[:4]}{n:02d}"
        base = COUNTY_NAMES[(n - 1) % len(COUNTY_NAMES)]
        name = base if n <= len(COUNTY_NAMES) else f"{base[:-1]}{n}{base[-1]}"
        counties.append(
            Region(
                code=code,
                name=name,
                level=RegionLevel.COUNTY,
                parent=city,
                path=f"{city.path}{code}/",
            )
        )
    Region.objects.bulk_create(counties)
    regions = [province, *cities, *counties]

    # Units: a bureau per region, then agencies spread ~5 % province, 25 % cities, 70 %
    # counties, as in a real province.
    plan: list[tuple[Region, float]] = [(province, 0.05)]
    plan += [(c, 0.25 / len(cities)) for c in cities]
    plan += [(c, 0.70 / len(counties)) for c in counties]
    target = max(size.units - len(regions), 0)
    units: list[Unit] = []
    serial = 0
    full_name_of = {c.pk: c.name for c in regions}
    for c in counties:
        full_name_of[c.pk] = f"{full_name_of[c.parent_id]}{c.name}"
    for region in regions:
        serial += 1
        units.append(
            Unit(
                name=f"{full_name_of[region.pk]}版权局",
                credit_code=credit_code(region.code, serial, UnitType.GOVERNMENT_AGENCY),
                unit_type=UnitType.GOVERNMENT_AGENCY,
                region=region,
                is_copyright_bureau=True,
                headcount=rng.randint(8, 30),
            )
        )
    affiliates: list[tuple[int, str]] = []  # (index of the parent in units, suffix)
    for region, share in plan:
        count = round(target * share)
        # Each region gets its organs in its own order, so small regions still have all types.
        order = rng.sample(AGENCIES, len(AGENCIES))
        first = len(units)
        for k in range(min(count, len(order))):
            agency, unit_type = order[k]
            serial += 1
            units.append(
                Unit(
                    name=f"{full_name_of[region.pk]}{agency}",
                    credit_code=credit_code(region.code, serial, unit_type),
                    unit_type=unit_type,
                    region=region,
                    headcount=max(5, int(rng.lognormvariate(3.2, 0.7))),
                )
            )
        # Beyond one of each organ, a region's further units are affiliated bodies (下属单位).
        for k in range(count - len(order)):
            affiliates.append((first + k % len(order), AFFILIATE_SUFFIXES[k // len(order) % 8]))
    primaries = units[: max(size.units, len(regions))]
    Unit.objects.bulk_create(primaries, batch_size=2000)
    room = max(size.units - len(primaries), 0)
    children: list[Unit] = []
    for parent_index, suffix in affiliates[:room]:
        parent = primaries[parent_index]
        serial += 1
        children.append(
            Unit(
                name=f"{parent.name}{suffix}",
                credit_code=credit_code(parent.region.code, serial, UnitType.PUBLIC_INSTITUTION),
                unit_type=UnitType.PUBLIC_INSTITUTION,
                region=parent.region,
                parent=parent,
                headcount=max(5, int(rng.lognormvariate(2.8, 0.6))),
            )
        )
    Unit.objects.bulk_create(children, batch_size=2000)
    for unit in primaries:
        unit.path = f"/{unit.pk}/"
    for unit in children:
        unit.path = f"{unit.parent.path}{unit.pk}/"
    units = primaries + children
    Unit.objects.bulk_update(units, ["path"], batch_size=2000)

    departments = [
        Department(unit=unit, name=name)
        for position, unit in enumerate(units)
        for name in DEPARTMENTS[: 3 + position % 5]
    ]
    Department.objects.bulk_create(departments, batch_size=5000)
    dept_ids: dict[int, list[int]] = {}
    for dept_id, unit_id in Department.objects.filter(unit__in=units).values_list("pk", "unit"):
        dept_ids.setdefault(unit_id, []).append(dept_id)

    # People: enough staff for the devices the inventory part will give each unit.
    total_headcount = sum(u.headcount for u in units) or 1
    device_share = {u.pk: u.headcount / total_headcount for u in units}
    people: list[User] = []
    grants: list[tuple[int, str]] = []  # (index into people, role)
    per_unit_people: dict[int, list[int]] = {}
    for unit_no, unit in enumerate(units, start=1):
        want = max(3, round(size.devices * device_share[unit.pk]))
        depts = dept_ids.get(unit.pk, [])
        for i in range(want):
            idx = len(people)
            people.append(
                User(
                    username=f"u{unit_no:05d}-{i + 1}",  # by position: ids differ per database
                    full_name=person_name(rng),
                    unit_id=unit.pk,
                    department_id=depts[i % len(depts)] if depts else None,
                    post="科员" if i > 2 else ("主任" if i == 0 else "副主任"),
                    password="!",  # unusable: simulated people never log in
                )
            )
            per_unit_people.setdefault(unit.pk, []).append(idx)
            if i == 0:
                grants.append((idx, Role.HEAD))
            elif i == 1:
                grants += [(idx, Role.SAM_OFFICER), (idx, Role.APPROVER)]
                unit.officer_name = people[idx].full_name
                unit.officer_post = "信息中心主任"
                unit.officer_phone = f"0{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}"
            elif unit.is_copyright_bureau and i == 2:
                grants.append((idx, Role.SUPERVISOR))
            else:
                grants.append((idx, Role.STAFF))
        unit.head_name = people[per_unit_people[unit.pk][0]].full_name
        unit.head_post = "局长" if unit.unit_type == UnitType.GOVERNMENT_AGENCY else "主任"
    total = len(people)
    for start in range(0, total, 10_000):
        User.objects.bulk_create(people[start : start + 10_000])
        ctx.progress("people", min(start + 10_000, total), total)
    ids = dict(
        User.objects.filter(unit__in=units)
        .values_list("username", "pk")
        .iterator(chunk_size=10_000)
    )
    RoleGrant.objects.bulk_create(
        [RoleGrant(user_id=ids[people[idx].username], role=role) for idx, role in grants],
        batch_size=10_000,
    )
    Unit.objects.bulk_update(
        units,
        ["officer_name", "officer_post", "officer_phone", "head_name", "head_post"],
        batch_size=2000,
    )
    MechanismMember.objects.bulk_create(
        [
            MechanismMember(
                region=region,
                role=role,
                person_name=person_name(rng),
                post=post,
                duties=duties,
            )
            for region in regions
            for role, post, duties in (
                (MechanismRole.LEADER, "分管副职", "统筹推进软件正版化工作"),
                (MechanismRole.DEPUTY, "宣传部副部长", "日常协调、督促检查"),
                (MechanismRole.MEMBER, "版权管理处处长", "组织推进、监督检查、年度报告"),
            )
        ]
    )
    ctx.shared["orgs"] = {
        "province_id": province.pk,
        "unit_ids": [u.pk for u in units],
        "people_by_unit": {
            unit_id: [ids[people[i].username] for i in idxs]
            for unit_id, idxs in per_unit_people.items()
        },
        "department_ids": dept_ids,
    }
    audit.record(
        actor=None,
        action=AuditAction.IMPORT,
        object_type="orgs.region",
        object_id=province.pk,
        object_repr=province.name,
        message=(
            f"simulated: {len(regions)} regions, {len(units)} units, {total} people "
            f"(seed {ctx.seed})"
        ),
    )
