"""The orgs part of `zhengban demo`: one province (山东省) with three cities and eight
counties, a copyright bureau and a working mechanism in each, about fifty units of every
type with departments, people in every role, deployment meetings and year-end lists in every
state. Everything goes through the services (so it is audited like real work) and is looked
up by its natural key first, so a second run adds nothing."""

from __future__ import annotations

import datetime

from django.core.files.base import ContentFile

from zhengban.core.demo import DemoContext, register
from zhengban.orgs import responsibility, services, submissions
from zhengban.orgs.choices import MechanismRole, RegionLevel, Role, SubmissionStatus, UnitType
from zhengban.orgs.models import (
    Department,
    DeploymentMeeting,
    MechanismMember,
    OfficerListSubmission,
    Region,
    Unit,
    User,
)
from zhengban.orgs.validators import make_credit_code

GOV, ORGAN, PUB, PEOPLE, EXEMPT = (
    UnitType.GOVERNMENT_AGENCY,
    UnitType.OTHER_STATE_ORGAN,
    UnitType.PUBLIC_INSTITUTION,
    UnitType.PEOPLES_ORGANISATION,
    UnitType.EXEMPT_SOCIAL_GROUP,
)
# GB 32100 registration prefixes: 11 机关, 12 事业单位, 13 群众团体 (编办), 19 其他 (编办).
PREFIX = {GOV: "11", ORGAN: "11", PUB: "12", PEOPLE: "13", EXEMPT: "19"}

PROVINCE = ("370000", "山东省")
CITIES = [
    ("370100", "济南市", [("370102", "历下区"), ("370103", "市中区"), ("370112", "历城区")]),
    ("370200", "青岛市", [("370202", "市南区"), ("370203", "市北区"), ("370211", "黄岛区")]),
    ("370300", "淄博市", [("370302", "淄川区"), ("370303", "张店区")]),
]

# (name, type) per level; "{r}" is the region's short name.
PROVINCE_UNITS = [
    ("山东省财政厅", GOV),
    ("山东省审计厅", GOV),
    ("山东省教育厅", GOV),
    ("山东省工业和信息化厅", GOV),
    ("山东省高级人民法院", ORGAN),
    ("山东省人民检察院", ORGAN),
    ("山东省档案馆", PUB),
    ("山东省总工会", PEOPLE),
    ("山东省作家协会", EXEMPT),
]
CITY_UNITS = [
    ("{r}财政局", GOV),
    ("{r}教育局", GOV),
    ("{r}审计局", GOV),
    ("{r}中级人民法院", ORGAN),
    ("{r}图书馆", PUB),
    ("{r}妇女联合会", PEOPLE),
]
COUNTY_UNITS = [("{r}财政局", GOV), ("{r}教育和体育局", GOV)]
# Extra units in a few counties so every type shows up below city level too.
COUNTY_EXTRA = {
    "370102": [("{r}人民法院", ORGAN), ("{r}档案馆", PUB), ("{r}书法家协会", EXEMPT)],
    "370202": [("{r}人民检察院", ORGAN), ("{r}总工会", PEOPLE)],
    "370303": [("{r}融媒体中心", PUB)],
}
DEPARTMENTS = ["办公室", "信息科", "财务科", "业务科"]
BUREAU_DEPARTMENTS = ["办公室", "版权管理科", "软件正版化工作科"]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "建国", "志强",
    "海燕", "晓东", "春梅", "丹", "鹏", "辉", "宁", "新华", "玉兰", "晨", "凯", "婷",
]  # fmt: skip

LISTED = "listed"  # accounts printed in the table (and given the demo password)


def person_name(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)]


class _Builder:
    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.counter = 0
        self.year = ctx.today.year

    # -- regions and units ---------------------------------------------------------------
    def region(self, code: str, name: str, level: str, parent: Region | None) -> Region:
        found = Region.objects.filter(code=code).first()
        if found:
            return found
        return services.create_region(actor=None, code=code, name=name, level=level, parent=parent)

    def unit(
        self,
        region: Region,
        name: str,
        unit_type: str,
        serial: int,
        *,
        bureau: bool = False,
        parent: Unit | None = None,
    ) -> Unit:
        code = make_credit_code(region.code, serial, prefix=PREFIX[unit_type])
        found = Unit.objects.filter(credit_code=code).first()
        if found:
            return found
        depts = BUREAU_DEPARTMENTS if bureau else DEPARTMENTS[: 3 + serial % 2]
        headcount = 15 + (serial * 37) % 160
        unit = services.create_unit(
            actor=None,
            name=name,
            credit_code=code,
            unit_type=unit_type,
            region=region,
            parent=parent,
            headcount=headcount,
            is_copyright_bureau=bureau,
            address=f"{region.name}{['人民路', '文化路', '建设路', '和平路'][serial % 4]}{serial}号",
            head_name=person_name(serial * 3),
            head_post="主任" if unit_type in (PUB, PEOPLE, EXEMPT) else "局长",
            departments=depts,
        )
        return unit

    # -- people --------------------------------------------------------------------------
    def person(
        self,
        username: str,
        unit: Unit | None,
        roles: list[str],
        *,
        full_name: str,
        post: str = "",
        department: str = "",
        listed: str = "",
    ) -> User:
        found = User.objects.filter(username=username).first()
        if found:
            if listed:
                self.ctx.accounts.append((username, listed, str(unit or "—")))
            return found
        dept = Department.objects.filter(unit=unit, name=department).first() if unit else None
        self.counter += 1
        user = services.create_person(
            actor=None,
            username=username,
            full_name=full_name,
            unit=unit,
            # Only the listed accounts get the demo password: hashing it for every person
            # would make the demo slow, and the others are there to be seen, not to log in.
            password=self.ctx.password if listed else None,
            roles=roles,
            department=dept,
            post=post,
            phone=f"0531-8{self.counter:06d}" if unit else "",
            email=f"{username}@example.cn",
        )
        if listed:
            self.ctx.accounts.append((username, listed, str(unit or "—")))
        return user

    def staff_for(self, unit: Unit, serial: int) -> tuple[User, list[User]]:
        """An officer and two staff members per unit; the officer is the unit's 具体负责人."""
        prefix = f"u{unit.credit_code[2:8]}_{serial:02d}"
        officer_name = person_name(serial * 11 + 1)
        officer = self.person(
            f"{prefix}_officer",
            unit,
            [Role.SAM_OFFICER, Role.APPROVER],
            full_name=officer_name,
            post="信息科科长",
            department="信息科" if unit.departments.filter(name="信息科").exists() else "办公室",
        )
        staff = [
            self.person(
                f"{prefix}_s{i}",
                unit,
                [Role.STAFF],
                full_name=person_name(serial * 11 + 1 + i),
                post="科员",
                department="办公室",
            )
            for i in (1, 2)
        ]
        if not unit.officer_name:
            services.update_unit(
                actor=self.sysadmin,
                unit=unit,
                officer_name=officer.full_name,
                officer_post=officer.post,
                officer_phone=officer.phone,
                lead_department=officer.department,
            )
        return officer, staff

    # -- §一 records ---------------------------------------------------------------------
    def mechanism(self, region: Region, units: list[Unit]) -> None:
        if MechanismMember.objects.filter(region=region).exists():
            return
        short = region.name
        seed = int(region.code) // 100
        members = [
            (MechanismRole.LEADER, person_name(seed), f"{short}人民政府副{'省' if region.level == RegionLevel.PROVINCE else '市' if region.level == RegionLevel.CITY else '区'}长", None, "全面负责推进使用正版软件工作"),
            (MechanismRole.DEPUTY, person_name(seed + 1), "宣传部副部长、版权局局长", None, "主持日常工作，组织检查和考核"),
            (MechanismRole.MEMBER, person_name(seed + 2), "财政部门副职", None, "保障软件采购经费"),
        ]  # fmt: skip
        duties = {
            "财政": "将软件采购经费纳入本级财政预算",
            "审计": "对软件正版化情况开展审计监督",
            "教育": "推进教育系统软件正版化",
            "工业和信息化": "推进国产软件应用，提供技术支持",
            "法院": "推进审判机关软件正版化",
        }
        for unit in units:
            for key, text in duties.items():
                if key in unit.name and not unit.is_copyright_bureau:
                    members.append((MechanismRole.MEMBER_UNIT, "", "", unit, text))
                    break
        for role, name, post, unit, duty in members:
            responsibility.add_mechanism_member(
                actor=None, region=region, role=role, person_name=name, post=post, unit=unit,
                duties=duty,
            )  # fmt: skip

    def meetings(self, unit: Unit, serial: int, *, with_minutes: bool = False) -> None:
        for year in (self.year - 1, self.year):
            if year == self.year and serial % 3 == 2:
                continue  # not every unit has held this year's meeting yet
            date = datetime.date(year, 3 + serial % 4, 5 + serial % 20)
            if date > self.ctx.today:
                date = self.ctx.today
            title = f"{year}年度软件正版化工作部署会"
            if DeploymentMeeting.objects.filter(unit=unit, title=title).exists():
                continue
            minutes = None
            if with_minutes:
                minutes = ContentFile(_MINUTES_PDF, name=f"{year}年部署会会议纪要.pdf")
            responsibility.record_meeting(
                actor=None,
                unit=unit,
                date=date,
                title=title,
                attendees=f"{unit.head_name}（第一责任人）、{unit.officer_name}（具体负责人）、各科室负责人",
                minutes=minutes,
            )

    def submission(self, unit: Unit, officer: User, year: int, target: str) -> None:
        if not target or OfficerListSubmission.objects.filter(unit=unit, year=year).exists():
            return
        s = submissions.create_or_update_draft(actor=officer, unit=unit, year=year)
        if target == SubmissionStatus.DRAFT:
            return
        s = submissions.submit(actor=officer, submission=s)
        if target == SubmissionStatus.SUBMITTED:
            return
        bureau = responsibility.responsible_bureau(unit)
        supervisor = User.objects.filter(unit=bureau, role_grants__role=Role.SUPERVISOR).first()
        if target == SubmissionStatus.RECEIVED:
            submissions.receive(actor=supervisor, submission=s)
        elif target == SubmissionStatus.RETURNED:
            submissions.return_submission(
                actor=supervisor, submission=s, reason="请补充办公室负责人的联系电话。"
            )


# The smallest well-formed PDF: a demo meeting's minutes the download link can serve.
_MINUTES_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

# This year's state per unit, by position in the list of non-bureau units: most units have
# done their duty, some are waiting for the bureau, a few were returned or are late.
THIS_YEAR_CYCLE = [
    SubmissionStatus.RECEIVED,
    SubmissionStatus.SUBMITTED,
    SubmissionStatus.RECEIVED,
    "",
    SubmissionStatus.DRAFT,
    SubmissionStatus.RECEIVED,
    SubmissionStatus.RETURNED,
    SubmissionStatus.SUBMITTED,
]


@register("orgs", order=10)
def build(ctx: DemoContext) -> None:
    b = _Builder(ctx)
    # Platform operators first: the sysadmin is the actor of the unit set-up below.
    b.sysadmin = b.person("sysadmin", None, [Role.SYSADMIN], full_name="系统管理员",
                          listed="系统管理员（账号与设置）")  # fmt: skip
    b.person("secadmin", None, [Role.SECADMIN], full_name="安全管理员",
             listed="安全管理员（角色与权限）")  # fmt: skip
    b.person("auditadmin", None, [Role.AUDIT_ADMIN], full_name="审计管理员",
             listed="审计管理员（审计日志）")  # fmt: skip

    province = b.region(PROVINCE[0], PROVINCE[1], RegionLevel.PROVINCE, None)
    plan: list[tuple[Region, list[tuple[str, str]]]] = [(province, PROVINCE_UNITS)]
    for code, name, counties in CITIES:
        city = b.region(code, name, RegionLevel.CITY, province)
        plan.append((city, [(n.replace("{r}", name), t) for n, t in CITY_UNITS]))
        for county_code, county_name in counties:
            county = b.region(county_code, county_name, RegionLevel.COUNTY, city)
            units = COUNTY_UNITS + COUNTY_EXTRA.get(county_code, [])
            plan.append((county, [(n.replace("{r}", f"{name}{county_name}"), t) for n, t in units]))

    bureaus: dict[str, Unit] = {}
    units: list[Unit] = []
    by_region: dict[str, list[Unit]] = {}
    for region, unit_specs in plan:
        if region.level == RegionLevel.COUNTY:
            bureau_name = f"{region.parent.name}{region.name}委宣传部（区版权局）"
        else:
            bureau_name = f"{region.name}版权局"
        bureau = b.unit(region, bureau_name, GOV, 1, bureau=True)
        bureaus[region.code] = bureau
        region_units = [bureau]
        for index, (name, unit_type) in enumerate(unit_specs, start=2):
            region_units.append(b.unit(region, name, unit_type, index))
        by_region[region.code] = region_units
        units.extend(region_units[1:])

    # An affiliated body (下属单位) under the 历下区 finance bureau.
    lixia_finance = by_region["370102"][1]
    centre = b.unit(
        lixia_finance.region, "济南市历下区国库集中支付中心", PUB, 30, parent=lixia_finance
    )
    units.append(centre)

    # The listed accounts, as README.md describes them.
    b.person("supervisor", bureaus["370000"], [Role.SUPERVISOR], full_name="周建国",
             post="版权管理处处长", department="版权管理科", listed="省版权局监管人员（全省）")  # fmt: skip
    b.person("city_supervisor", bureaus["370100"], [Role.SUPERVISOR], full_name="孙晓东",
             post="版权科科长", department="版权管理科", listed="市版权局监管人员（济南市）")  # fmt: skip
    officer = b.person("officer", lixia_finance, [Role.SAM_OFFICER, Role.APPROVER],
                       full_name="刘海燕", post="信息科科长", department="信息科",
                       listed="具体负责人、审批人（历下区财政局）")  # fmt: skip
    b.person("staff", lixia_finance, [Role.STAFF], full_name="陈明", post="科员",
             department="业务科", listed="软件使用人")  # fmt: skip
    b.person("head", lixia_finance, [Role.HEAD], full_name=lixia_finance.head_name,
             post=lixia_finance.head_post, department="办公室", listed="单位负责人（第一责任人）")  # fmt: skip
    b.person("finance", Unit.objects.get(name="山东省财政厅"), [Role.FINANCE], full_name="郑丽",
             post="行政政法处副处长", department="财务科", listed="财务审核人员（全省）")  # fmt: skip
    b.person("auditor", Unit.objects.get(name="山东省审计厅"), [Role.AUDITOR], full_name="韩磊",
             post="审计员", department="业务科", listed="审计人员（全省）")  # fmt: skip

    # A supervisor and an officer in every other bureau, so each can receive lists.
    for code, bureau in bureaus.items():
        if not User.objects.filter(unit=bureau, role_grants__role=Role.SUPERVISOR).exists():
            b.person(f"sup_{code}", bureau, [Role.SUPERVISOR], full_name=person_name(int(code) // 7),
                     post="版权管理科科长", department="版权管理科")  # fmt: skip

    officers: dict[int, User] = {lixia_finance.pk: officer}
    all_units = list(bureaus.values()) + units
    for serial, unit in enumerate(all_units, start=1):
        if unit.pk == lixia_finance.pk:
            b.person("u_lixia_s1", unit, [Role.STAFF], full_name="杨洋", post="科员",
                     department="办公室")  # fmt: skip
            if not unit.officer_name:
                services.update_unit(
                    actor=b.sysadmin, unit=unit, officer_name=officer.full_name,
                    officer_post=officer.post, officer_phone=officer.phone,
                    lead_department=officer.department,
                )  # fmt: skip
            continue
        officers[unit.pk], _staff = b.staff_for(unit, serial)

    for region, _specs in plan:
        b.mechanism(region, by_region[region.code])

    for serial, unit in enumerate(all_units, start=1):
        b.meetings(unit, serial, with_minutes=unit.pk == lixia_finance.pk)

    # Year-end lists: last year every unit's was received; this year a mix of every state.
    for unit in all_units:
        b.submission(unit, officers[unit.pk], b.year - 1, SubmissionStatus.RECEIVED)
    for index, unit in enumerate(all_units):
        if unit.pk == lixia_finance.pk:
            target = SubmissionStatus.DRAFT  # the demo officer has something to submit
        elif unit.is_copyright_bureau:
            target = SubmissionStatus.RECEIVED
        else:
            target = THIS_YEAR_CYCLE[index % len(THIS_YEAR_CYCLE)]
        b.submission(unit, officers[unit.pk], b.year, target)

    ctx.shared["orgs"] = {
        "province": province,
        "bureaus": bureaus,
        "units": units,
        "demo_unit": lixia_finance,
    }
    ctx.say(
        f"  行政区划 {Region.objects.count()} 个，单位 {Unit.objects.count()} 个，"
        f"人员 {User.objects.count()} 人"
    )
