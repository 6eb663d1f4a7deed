"""Bulk import of units and people from the XLSX template the product provides.

The whole file is checked first; a file with any bad row writes nothing and comes back with a
per-row error report. A good file is written in one transaction with one audit record for
the import (plus the usual record per created unit and person, and one per updated unit).

Re-importing an edited file updates the units already on the platform, matched by their
unified social credit code: every column present in the file is taken as the unit's new
value (a blank optional cell clears it; a column left out of the file changes nothing);
departments named in the file are added, never removed (people may belong to them); a new
parent moves the unit with its affiliated bodies. Each unit row comes out as created,
updated or unchanged (`ImportResult.outcomes`, and the 结果 column of
`build_result_report`). People are not updated by an import (accounts are the 系统管理员's
business, with their own rules): a person already on the platform passes as unchanged when
the row matches the account (same unit, name, department, post, phone, e-mail, and roles
they already hold), and is an error otherwise.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from zhengban.core import audit
from zhengban.core.choices import AuditAction
from zhengban.core.exports import XlsxRefused, check_xlsx_archive, safe_cell
from zhengban.orgs import services
from zhengban.orgs.choices import IMPORTABLE_ROLES, PLATFORM_ROLES, Role, UnitType
from zhengban.orgs.models import Department, Region, Unit, User
from zhengban.orgs.responsibility import is_system_admin
from zhengban.orgs.validators import normalise_credit_code, validate_credit_code

UNIT_SHEET = "单位"
PERSON_SHEET = "人员"
ERROR_HEADER = "错误"
MAX_ROWS = 20_000

# (key, header, required)
UNIT_COLUMNS: list[tuple[str, str, bool]] = [
    ("name", "单位名称", True),
    ("credit_code", "统一社会信用代码", True),
    ("unit_type", "单位类型", True),
    ("region_code", "行政区划代码", True),
    ("parent_code", "上级单位信用代码", False),
    ("headcount", "编制人数", False),
    ("address", "地址", False),
    ("is_copyright_bureau", "著作权行政管理部门", False),
    ("head_name", "第一责任人", False),
    ("head_post", "第一责任人职务", False),
    ("departments", "部门", False),
    ("lead_department", "牵头部门", False),
    ("officer_name", "具体负责人", False),
    ("officer_post", "具体负责人职务", False),
    ("officer_phone", "具体负责人电话", False),
]
PERSON_COLUMNS: list[tuple[str, str, bool]] = [
    ("username", "用户名", True),
    ("full_name", "姓名", True),
    ("unit_code", "单位信用代码", True),
    ("department", "部门", False),
    ("post", "职务", False),
    ("phone", "电话", False),
    ("email", "电子邮箱", False),
    ("roles", "角色", False),
]
UNIT_TYPE_BY_LABEL = {str(label): value for value, label in UnitType.choices}
ROLE_BY_LABEL = {str(label): value for value, label in Role.choices}
YES, NO = "是", "否"
LIST_SEPARATORS = re.compile(r"[、,，;；\n]+")
TEXT_LIMITS = {
    "name": 200,
    "address": 200,
    "head_name": 50,
    "head_post": 100,
    "officer_name": 50,
    "officer_post": 100,
    "officer_phone": 30,
    "full_name": 50,
    "post": 100,
    "phone": 30,
}


@dataclass
class RowError:
    sheet: str
    row: int  # the spreadsheet's own row number (headers are row 1)
    message: str

    def __str__(self) -> str:
        if self.row:
            return _("%(sheet)s第%(row)d行：%(message)s") % {
                "sheet": self.sheet,
                "row": self.row,
                "message": self.message,
            }
        return f"{self.sheet}：{self.message}" if self.sheet else self.message


@dataclass
class SheetRows:
    headers: list[str] = field(default_factory=list)
    # (row number, raw cell values as in the file, values by column key)
    rows: list[tuple[int, list[Any], dict[str, str]]] = field(default_factory=list)


CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
OUTCOME_LABELS = {CREATED: "新建", UPDATED: "更新", UNCHANGED: "无变化"}
RESULT_HEADER = "结果"


@dataclass
class RowOutcome:
    outcome: str  # CREATED, UPDATED or UNCHANGED
    changed: list[str] = field(default_factory=list)  # column headers, for UPDATED

    def __str__(self) -> str:
        label = OUTCOME_LABELS[self.outcome]
        return f"{label}：{'、'.join(self.changed)}" if self.changed else label


@dataclass
class ImportResult:
    errors: list[RowError] = field(default_factory=list)
    units_created: int = 0
    units_updated: int = 0
    units_unchanged: int = 0
    departments_created: int = 0
    people_created: int = 0
    people_unchanged: int = 0
    sheets: dict[str, SheetRows] = field(default_factory=dict)
    # (sheet, row number) -> what the import did with that row; empty unless it was written.
    outcomes: dict[tuple[str, int], RowOutcome] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return _(
            "导入成功：新建单位%(uc)d个、更新%(uu)d个、无变化%(un)d个，新建部门%(d)d个，"
            "新建人员%(pc)d人、无变化%(pn)d人。"
        ) % {
            "uc": self.units_created,
            "uu": self.units_updated,
            "un": self.units_unchanged,
            "d": self.departments_created,
            "pc": self.people_created,
            "pn": self.people_unchanged,
        }


# ---------------------------------------------------------------------------------------------
# The template


def build_template(*, regions: list[Region] | None = None) -> bytes:
    """The XLSX people fill in: 单位 and 人员 sheets with drop-down lists, an 说明 sheet, and
    a hidden 选项 sheet holding the region codes for the drop-down."""
    wb = Workbook()
    wb.remove(wb.active)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="FFF3E0")
    options = wb.create_sheet("选项")
    region_list = regions if regions is not None else list(Region.objects.all())
    options.append(["行政区划代码", "名称"])
    for region in region_list:
        options.append([region.code, region.name])
    options.sheet_state = "hidden"
    for title, columns in ((UNIT_SHEET, UNIT_COLUMNS), (PERSON_SHEET, PERSON_COLUMNS)):
        ws = wb.create_sheet(title)
        ws.append([header for _key, header, _req in columns])
        for index, (_key, header, required) in enumerate(columns, start=1):
            cell = ws.cell(row=1, column=index)
            cell.font = bold
            if required:
                cell.fill = fill
            ws.column_dimensions[get_column_letter(index)].width = max(12, len(header) * 2 + 4)
        ws.freeze_panes = "A2"
    units, people = wb[UNIT_SHEET], wb[PERSON_SHEET]
    type_list = DataValidation(
        type="list", formula1='"' + ",".join(UNIT_TYPE_BY_LABEL) + '"', allow_blank=False
    )
    type_list.error = _("请从列表中选择单位类型。")
    yes_no = DataValidation(type="list", formula1=f'"{YES},{NO}"', allow_blank=True)
    units.add_data_validation(type_list)
    units.add_data_validation(yes_no)
    type_list.add("C2:C5000")
    yes_no.add("H2:H5000")
    if region_list:
        region_dv = DataValidation(
            type="list", formula1=f"选项!$A$2:$A${len(region_list) + 1}", allow_blank=False
        )
        units.add_data_validation(region_dv)
        region_dv.add("D2:D5000")
    roles_hint = DataValidation(type="list", allow_blank=True)
    roles_hint.formula1 = '"' + ",".join(str(Role(r).label) for r in IMPORTABLE_ROLES) + '"'
    # Several roles are allowed ("具体负责人、审批人"), so the list is a hint, not a rule.
    roles_hint.showErrorMessage = False
    people.add_data_validation(roles_hint)
    roles_hint.add("H2:H5000")
    notes = wb.create_sheet("说明")
    for line in [
        "填写说明",
        "1. 底色标出的列为必填；请勿修改表头。",
        "2. 统一社会信用代码为18位（含校验位），字母不使用I、O、Z、S、V。",
        "3. 单位类型：" + "、".join(UNIT_TYPE_BY_LABEL) + "。",
        "4. 行政区划代码为6位，须是平台中已有的行政区划（见下拉列表）。",
        "5. 上级单位信用代码：所属主管单位的信用代码，可以是本文件中的单位。",
        "6. 部门可填多个，用“、”分隔；牵头部门须是其中之一。",
        "7. 人员的单位信用代码须是本文件或平台中已有的单位；部门须是该单位的部门。",
        "8. 角色可填多个，用“、”分隔："
        + "、".join(str(Role(r).label) for r in IMPORTABLE_ROLES)
        + "。三员角色不能导入；角色须由安全管理员导入。",
        "9. 导入的账号没有密码，由系统管理员另行设置初始密码。",
        "10. 文件中任何一行有错误时，整个文件都不会导入，平台会返回逐行错误报告。",
    ]:
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    notes["A1"].font = bold
    wb.move_sheet("说明", offset=-(len(wb.sheetnames) - 1))
    wb.active = wb.sheetnames.index(UNIT_SHEET)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Reading


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _read_sheet(
    wb: Any, title: str, columns: list[tuple[str, str, bool]], errors: list[RowError]
) -> SheetRows:
    out = SheetRows()
    if title not in wb.sheetnames:
        errors.append(
            RowError(title, 0, _("缺少工作表“%(s)s”，请使用平台提供的模板。") % {"s": title})
        )
        return out
    rows = wb[title].iter_rows(values_only=True)
    header_row = next(rows, None) or ()
    out.headers = [_text(h) for h in header_row]
    positions: dict[str, int] = {}
    for key, header, required in columns:
        # A trailing "*" or "（必填）" marks required columns in some hand-made copies.
        matches = [
            i
            for i, h in enumerate(out.headers)
            if h.rstrip("*＊").removesuffix("（必填）") == header
        ]
        if matches:
            positions[key] = matches[0]
        elif required:
            errors.append(RowError(title, 1, _("缺少必填列“%(h)s”。") % {"h": header}))
    if any(e.sheet == title and e.row == 1 for e in errors):
        return out
    for number, raw in enumerate(rows, start=2):
        raw = list(raw)
        if not any(_text(v) for v in raw):
            continue
        if len(out.rows) >= MAX_ROWS:
            errors.append(RowError(title, number, _("每个工作表最多%(n)d行。") % {"n": MAX_ROWS}))
            break
        values = {key: _text(raw[pos]) if pos < len(raw) else "" for key, pos in positions.items()}
        out.rows.append((number, raw, values))
    return out


def read_workbook(file: Any) -> tuple[dict[str, SheetRows], list[RowError]]:
    errors: list[RowError] = []
    unreadable = RowError("", 0, _("无法读取文件，请上传由模板填写的 .xlsx 文件。"))
    try:
        # Before openpyxl: it inflates whole parts in memory, whatever the upload's size.
        check_xlsx_archive(file)
    except XlsxRefused as exc:
        return {}, [RowError("", 0, exc.message) if exc.too_large else unreadable]
    try:
        wb = load_workbook(file, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not XLSX
        return {}, [unreadable]
    try:
        sheets = {
            UNIT_SHEET: _read_sheet(wb, UNIT_SHEET, UNIT_COLUMNS, errors),
            PERSON_SHEET: _read_sheet(wb, PERSON_SHEET, PERSON_COLUMNS, errors),
        }
    finally:
        wb.close()
    if not errors and not sheets[UNIT_SHEET].rows and not sheets[PERSON_SHEET].rows:
        errors.append(RowError("", 0, _("文件中没有数据。")))
    return sheets, errors


# ---------------------------------------------------------------------------------------------
# Checking


def _split(value: str) -> list[str]:
    return [part.strip() for part in LIST_SEPARATORS.split(value or "") if part.strip()]


def _can_import_roles(actor: User | None) -> bool:
    # 三员分立: roles are the 安全管理员's business; the server-side command (no actor) may.
    return actor is None or actor.is_superuser or actor.has_role(Role.SECADMIN)


@dataclass
class _UnitPlan:
    row: int
    fields: dict[str, Any]  # for an update, only the columns present in the file
    # The parent after the import: the file's, or the unit's current one when the file has
    # no parent column (so that _ordered sees every parent link the write will rely on).
    parent_code: str
    departments: list[str]
    lead_department: str
    existing: Unit | None = None  # the unit with this credit code already on the platform
    columns: frozenset[str] = frozenset()  # column keys present in the file
    known_departments: frozenset[str] = frozenset()  # the row's plus the unit's own


@dataclass
class _PersonPlan:
    row: int
    username: str
    fields: dict[str, Any]
    unit_code: str
    department: str
    roles: list[str]
    unchanged: bool = False  # an existing account that the row matches: nothing to write


def _check_units(
    rows: list[tuple[int, list[Any], dict[str, str]]], actor: User | None, errors: list[RowError]
) -> dict[str, _UnitPlan]:
    regions_qs = Region.objects.all() if actor is None else Region.objects.visible_to(actor)
    regions = {r.code: r for r in regions_qs}
    file_codes = {normalise_credit_code(v.get("credit_code", "")) for _n, _r, v in rows}
    existing = {
        u.credit_code: u
        for u in Unit.objects.filter(credit_code__in=file_codes).select_related("parent")
    }
    existing_departments: dict[int, set[str]] = {}
    for unit_id, name in Department.objects.filter(
        unit__in=[u.pk for u in existing.values()]
    ).values_list("unit_id", "name"):
        existing_departments.setdefault(unit_id, set()).add(name)
    # Region code -> credit code of its bureau, so a unit may keep being its region's bureau.
    bureau_of: dict[str, str] = dict(
        Unit.objects.filter(is_copyright_bureau=True).values_list("region__code", "credit_code")
    )
    visible_units = Unit.objects.all() if actor is None else Unit.objects.visible_to(actor)
    plans: dict[str, _UnitPlan] = {}
    for number, _raw, v in rows:
        problems: list[str] = []

        def bad(message: str, problems: list[str] = problems) -> None:
            problems.append(message)

        if not v.get("name"):
            bad(_("单位名称不能为空"))
        code = normalise_credit_code(v.get("credit_code", ""))
        current: Unit | None = None
        if not code:
            bad(_("统一社会信用代码不能为空"))
        else:
            try:
                validate_credit_code(code)
            except ValidationError as exc:
                bad(exc.messages[0].rstrip("。"))
            else:
                current = existing.get(code)
                if code in plans:
                    bad(
                        _("统一社会信用代码%(c)s与第%(r)d行重复")
                        % {"c": code, "r": plans[code].row}
                    )
                elif (
                    current is not None
                    and actor is not None
                    and not services.can_manage_unit(actor, current)
                ):
                    bad(_("统一社会信用代码%(c)s对应的单位不在您的管辖范围内") % {"c": code})
        unit_type = v.get("unit_type", "")
        unit_type = UNIT_TYPE_BY_LABEL.get(unit_type, unit_type)
        if unit_type not in UnitType.values:
            bad(
                _("单位类型“%(t)s”无效，应为：%(all)s")
                % {"t": v.get("unit_type", ""), "all": "、".join(UNIT_TYPE_BY_LABEL)}
            )
        region = regions.get(v.get("region_code", ""))
        if region is None:
            bad(
                _("行政区划代码“%(c)s”不存在或不在您的管辖范围内") % {"c": v.get("region_code", "")}
            )
        headcount = 0
        if v.get("headcount"):
            try:
                headcount = int(v["headcount"])
                if headcount < 0:
                    raise ValueError
            except ValueError:
                bad(_("编制人数应为非负整数"))
        if current is not None and "is_copyright_bureau" not in v:
            is_bureau = current.is_copyright_bureau
        else:
            bureau_text = v.get("is_copyright_bureau", "") or NO
            if bureau_text not in (YES, NO):
                bad(_("著作权行政管理部门应填“是”或“否”"))
            is_bureau = bureau_text == YES
        if is_bureau and region is not None:
            if bureau_of.setdefault(region.code, code) != code:
                bad(_("%(r)s已有著作权行政管理部门") % {"r": region.name})
        for key, limit in TEXT_LIMITS.items():
            if len(v.get(key, "")) > limit:
                bad(_("“%(h)s”不能超过%(n)d个字") % {"h": _header(UNIT_COLUMNS, key), "n": limit})
        departments = _split(v.get("departments", ""))
        if len(set(departments)) != len(departments):
            bad(_("部门名称重复"))
        if any(len(d) > 100 for d in departments):
            bad(_("部门名称不能超过100个字"))
        known = set(departments) | existing_departments.get(current.pk if current else 0, set())
        lead = v.get("lead_department", "")
        if lead and lead not in known:
            if current is None:
                bad(_("牵头部门“%(d)s”不在本行的部门中") % {"d": lead})
            else:
                bad(_("牵头部门“%(d)s”既不在本行的部门中，也不是该单位已有的部门") % {"d": lead})
        if current is not None and "parent_code" not in v:
            parent_code = current.parent.credit_code if current.parent else ""
        else:
            parent_code = normalise_credit_code(v.get("parent_code", ""))
        parent_in_db = None
        if parent_code and parent_code not in file_codes:
            parent_in_db = visible_units.filter(credit_code=parent_code).first()
        if parent_code and parent_code == code:
            bad(_("上级单位不能是本单位"))
        elif parent_code and parent_code not in file_codes and parent_in_db is None:
            bad(_("上级单位信用代码%(c)s在本文件和平台中都不存在") % {"c": parent_code})
        elif current is not None and parent_in_db is not None:
            if parent_in_db.path.startswith(current.path):
                bad(_("上级单位%(c)s是本单位的下属单位") % {"c": parent_code})
        if problems:
            errors.append(RowError(UNIT_SHEET, number, "；".join(problems) + "。"))
            continue
        values = {
            "name": v["name"],
            "unit_type": unit_type,
            "region": region,
            "headcount": headcount,
            "address": v.get("address", ""),
            "is_copyright_bureau": is_bureau,
            "head_name": v.get("head_name", ""),
            "head_post": v.get("head_post", ""),
            "officer_name": v.get("officer_name", ""),
            "officer_post": v.get("officer_post", ""),
            "officer_phone": v.get("officer_phone", ""),
        }
        if current is not None:
            # A column left out of the file keeps the unit's value.
            values = {k: x for k, x in values.items() if UNIT_FIELD_COLUMNS.get(k, k) in v}
        plans[code] = _UnitPlan(
            row=number,
            fields={"credit_code": code, **values},
            parent_code=parent_code,
            departments=departments,
            lead_department=lead,
            existing=current,
            columns=frozenset(v),
            known_departments=frozenset(known),
        )
    return plans


# Unit field -> the column that carries it, where the two names differ.
UNIT_FIELD_COLUMNS = {"region": "region_code", "parent": "parent_code"}


def _header(columns: list[tuple[str, str, bool]], key: str) -> str:
    return next(header for k, header, _req in columns if k == key)


def _check_people(
    rows: list[tuple[int, list[Any], dict[str, str]]],
    actor: User | None,
    unit_plans: dict[str, _UnitPlan],
    file_unit_codes: set[str],
    errors: list[RowError],
) -> list[_PersonPlan]:
    usernames = [v.get("username", "") for _n, _r, v in rows]
    taken = {
        u.username.lower(): u
        for u in User.objects.filter(username__in=usernames).select_related("unit", "department")
    }
    visible_units = Unit.objects.all() if actor is None else Unit.objects.visible_to(actor)
    username_ok = UnicodeUsernameValidator()
    seen: dict[str, int] = {}
    plans: list[_PersonPlan] = []
    for number, _raw, v in rows:
        problems: list[str] = []
        username = v.get("username", "")
        account: User | None = None
        if not username:
            problems.append(_("用户名不能为空"))
        else:
            try:
                username_ok(username)
                if len(username) > 150:
                    raise ValidationError("")
            except ValidationError:
                problems.append(_("用户名只能包含字母、数字和@/./+/-/_"))
            if username.lower() in seen:
                problems.append(
                    _("用户名%(u)s与第%(r)d行重复") % {"u": username, "r": seen[username.lower()]}
                )
            else:
                account = taken.get(username.lower())
            seen.setdefault(username.lower(), number)
        if not v.get("full_name"):
            problems.append(_("姓名不能为空"))
        for key in ("full_name", "post", "phone"):
            limit = TEXT_LIMITS[key]
            if len(v.get(key, "")) > limit:
                problems.append(
                    _("“%(h)s”不能超过%(n)d个字") % {"h": _header(PERSON_COLUMNS, key), "n": limit}
                )
        unit_code = normalise_credit_code(v.get("unit_code", ""))
        department = v.get("department", "")
        if not unit_code:
            problems.append(_("单位信用代码不能为空"))
        elif unit_code in unit_plans:
            if department and department not in unit_plans[unit_code].known_departments:
                problems.append(_("部门“%(d)s”不是该单位的部门") % {"d": department})
        elif unit_code in file_unit_codes:
            problems.append(_("所属单位（信用代码%(c)s）在单位表中有错误") % {"c": unit_code})
        else:
            unit = visible_units.filter(credit_code=unit_code).first()
            if unit is None:
                problems.append(_("单位信用代码%(c)s在本文件和平台中都不存在") % {"c": unit_code})
            elif department and not unit.departments.filter(name=department).exists():
                problems.append(_("部门“%(d)s”不是该单位的部门") % {"d": department})
        email = v.get("email", "")
        if email:
            try:
                validate_email(email)
            except ValidationError:
                problems.append(_("电子邮箱格式不正确"))
        roles: list[str] = []
        for label in _split(v.get("roles", "")):
            role = ROLE_BY_LABEL.get(label, label)
            if role in PLATFORM_ROLES:
                problems.append(_("三员角色“%(r)s”不能导入，请由安全管理员单独授予") % {"r": label})
            elif role not in IMPORTABLE_ROLES:
                problems.append(_("角色“%(r)s”无效") % {"r": label})
            elif role not in roles:
                roles.append(role)
        fields = {
            "full_name": v.get("full_name", ""),
            "post": v.get("post", ""),
            "phone": v.get("phone", ""),
            "email": email,
        }
        unchanged = False
        if account is not None:
            # An import never changes an account; a row that matches it passes unchanged.
            unchanged = (
                account.unit is not None
                and account.unit.credit_code == unit_code
                and (account.department.name if account.department else "") == department
                and all(getattr(account, k) == x for k, x in fields.items())
                and set(roles) <= account.role_set
            )
            if not unchanged:
                problems.append(
                    _("用户名%(u)s已存在于平台中，且与本行信息不同（导入不修改已有人员）")
                    % {"u": username}
                )
        elif roles and not _can_import_roles(actor):
            problems.append(_("角色须由安全管理员授予，请清空“角色”列后再导入"))
        if problems:
            errors.append(RowError(PERSON_SHEET, number, "；".join(problems) + "。"))
            continue
        plans.append(
            _PersonPlan(
                row=number,
                username=username,
                fields=fields,
                unit_code=unit_code,
                department=department,
                roles=roles,
                unchanged=unchanged,
            )
        )
    return plans


class _RowFailure(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


def _ordered(plans: dict[str, _UnitPlan]) -> list[_UnitPlan]:
    """Parents before their affiliated bodies; a cycle inside the file is reported."""
    ordered: list[_UnitPlan] = []
    state: dict[str, str] = {}

    def visit(code: str, chain: tuple[str, ...]) -> None:
        if state.get(code) == "done":
            return
        if code in chain:
            raise _RowFailure(RowError(UNIT_SHEET, plans[code].row, _("上级单位关系存在循环。")))
        plan = plans[code]
        if plan.parent_code in plans:
            visit(plan.parent_code, (*chain, code))
        state[code] = "done"
        ordered.append(plan)

    for code in plans:
        visit(code, ())
    return ordered


# ---------------------------------------------------------------------------------------------
# The service


def import_orgs(*, actor: User | None, file: Any, filename: str = "") -> ImportResult:
    """Checks the whole file, then writes all of it in one transaction, or nothing."""
    if actor is not None and not is_system_admin(actor):
        raise PermissionDenied(_("只有系统管理员可以批量导入。"))
    sheets, errors = read_workbook(file)
    result = ImportResult(errors=errors, sheets=sheets)
    if errors:
        return result
    unit_rows = sheets[UNIT_SHEET].rows
    file_unit_codes = {normalise_credit_code(v.get("credit_code", "")) for _n, _r, v in unit_rows}
    unit_plans = _check_units(unit_rows, actor, errors)
    # A parent that is itself a bad row makes its children fail as well, with a clear reason.
    for code, plan in list(unit_plans.items()):
        if plan.parent_code in file_unit_codes and plan.parent_code not in unit_plans:
            errors.append(
                RowError(
                    UNIT_SHEET,
                    plan.row,
                    _("上级单位（信用代码%(c)s）在本表中有错误。") % {"c": plan.parent_code},
                )
            )
            del unit_plans[code]
    person_plans = _check_people(
        sheets[PERSON_SHEET].rows, actor, unit_plans, file_unit_codes, errors
    )
    if errors:
        errors.sort(key=lambda e: (e.sheet != UNIT_SHEET, e.row))
        return result
    try:
        _write(
            actor=actor,
            unit_plans=unit_plans,
            person_plans=person_plans,
            result=result,
            filename=filename,
        )
    except _RowFailure as failure:
        # Nothing was written: the counts and outcomes must not say otherwise.
        result = ImportResult(errors=[failure.error], sheets=sheets)
    return result


def _unit_header(field_name: str) -> str:
    return _header(UNIT_COLUMNS, UNIT_FIELD_COLUMNS.get(field_name, field_name))


def _update_unit(
    *, actor: User | None, plan: _UnitPlan, parent: Unit | None
) -> tuple[Unit, RowOutcome, int]:
    """The unit as the row describes it; one audit record when anything changed."""
    unit = Unit.objects.select_for_update().get(pk=plan.existing.pk)
    before = audit.snapshot(unit)
    changed: list[str] = []
    for name, value in plan.fields.items():
        attname = Unit._meta.get_field(name).attname
        new = value.pk if isinstance(value, models.Model) else value
        if getattr(unit, attname) != new:
            setattr(unit, attname, new)
            changed.append(_unit_header(name))
    moved = "parent_code" in plan.columns and unit.parent_id != (parent.pk if parent else None)
    if moved:
        # Checked again here, against paths as earlier rows of this file have left them.
        if parent is not None and parent.path.startswith(unit.path):
            raise ValidationError(_("上级单位不能是本单位或其下属单位。"))
        unit.parent = parent
        changed.append(_unit_header("parent"))
    names = set(unit.departments.values_list("name", flat=True))
    added = [d for d in plan.departments if d not in names]
    for name in added:
        Department.objects.create(unit=unit, name=name)
    if added:
        changed.append(_header(UNIT_COLUMNS, "departments"))
    if "lead_department" in plan.columns:
        lead = unit.departments.get(name=plan.lead_department) if plan.lead_department else None
        if unit.lead_department_id != (lead.pk if lead else None):
            unit.lead_department = lead
            changed.append(_header(UNIT_COLUMNS, "lead_department"))
    if not changed:
        return unit, RowOutcome(UNCHANGED), 0
    unit.full_clean(exclude=["path"])
    affiliates: list[Unit] = []
    if moved:
        old = unit.path
        unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
        # The affiliated bodies move with it: their paths hang under the unit's.
        affiliates = list(Unit.objects.filter(path__startswith=old).exclude(pk=unit.pk))
        for affiliate in affiliates:
            affiliate.path = unit.path + affiliate.path[len(old) :]
        Unit.objects.bulk_update(affiliates, ["path"])
    unit.save()
    message = _("批量导入更新：%(f)s") % {"f": "、".join(changed)}
    if added:
        message += _("；新增部门：%(d)s") % {"d": "、".join(added)}
    if affiliates:
        message += _("；下属单位%(n)d个随之移动") % {"n": len(affiliates)}
    audit.record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=unit,
        before=before,
        after=audit.snapshot(unit),
        message=message,
    )
    return unit, RowOutcome(UPDATED, changed), len(added)


@transaction.atomic
def _write(
    *,
    actor: User | None,
    unit_plans: dict[str, _UnitPlan],
    person_plans: list[_PersonPlan],
    result: ImportResult,
    filename: str,
) -> None:
    units: dict[str, Unit] = {}
    for plan in _ordered(unit_plans):
        # Read afresh: an earlier row may have moved this parent (and changed its path).
        parent = Unit.objects.get(credit_code=plan.parent_code) if plan.parent_code else None
        try:
            with transaction.atomic():
                if plan.existing is None:
                    unit = services.create_unit(
                        actor=actor, parent=parent, departments=plan.departments, **plan.fields
                    )
                    outcome, added = RowOutcome(CREATED), len(plan.departments)
                    if plan.lead_department:
                        lead = unit.departments.get(name=plan.lead_department)
                        Unit.objects.filter(pk=unit.pk).update(lead_department=lead)
                else:
                    unit, outcome, added = _update_unit(actor=actor, plan=plan, parent=parent)
        except (ValidationError, IntegrityError) as exc:
            message = "；".join(getattr(exc, "messages", [str(exc)]))
            raise _RowFailure(RowError(UNIT_SHEET, plan.row, message)) from exc
        units[plan.fields["credit_code"]] = unit
        result.outcomes[(UNIT_SHEET, plan.row)] = outcome
        if outcome.outcome == CREATED:
            result.units_created += 1
        elif outcome.outcome == UPDATED:
            result.units_updated += 1
        else:
            result.units_unchanged += 1
        result.departments_created += added
    for plan in person_plans:
        if plan.unchanged:
            result.outcomes[(PERSON_SHEET, plan.row)] = RowOutcome(UNCHANGED)
            result.people_unchanged += 1
            continue
        unit = units.get(plan.unit_code) or Unit.objects.get(credit_code=plan.unit_code)
        department = (
            Department.objects.get(unit=unit, name=plan.department) if plan.department else None
        )
        try:
            with transaction.atomic():
                services.create_person(
                    actor=actor,
                    username=plan.username,
                    unit=unit,
                    department=department,
                    roles=plan.roles,
                    **plan.fields,
                )
        except (ValidationError, IntegrityError) as exc:
            message = "；".join(getattr(exc, "messages", [str(exc)]))
            raise _RowFailure(RowError(PERSON_SHEET, plan.row, message)) from exc
        result.outcomes[(PERSON_SHEET, plan.row)] = RowOutcome(CREATED)
        result.people_created += 1
    audit.record(
        actor=actor,
        action=AuditAction.IMPORT,
        object_type="orgs.unit",
        object_repr=(filename or _("单位和人员导入"))[:300],
        after={
            "units": result.units_created,
            "units_updated": result.units_updated,
            "units_unchanged": result.units_unchanged,
            "departments": result.departments_created,
            "people": result.people_created,
            "people_unchanged": result.people_unchanged,
        },
        message=_("导入单位%(u)d个（新建）、更新%(uu)d个、无变化%(un)d个，部门%(d)d个，人员%(p)d人")
        % {
            "u": result.units_created,
            "uu": result.units_updated,
            "un": result.units_unchanged,
            "d": result.departments_created,
            "p": result.people_created,
        },
    )


# ---------------------------------------------------------------------------------------------
# Reports: the file's own rows with one more column, the errors or what was done per row.


def build_error_report(result: ImportResult) -> bytes:
    """The file's own rows with an error column, so it can be fixed and re-sent."""
    by_row: dict[tuple[str, int], list[str]] = {}
    for error in result.errors:
        by_row.setdefault((error.sheet, error.row), []).append(error.message)
    general = [str(e) for e in result.errors if not e.row or e.row == 1 or not e.sheet]
    messages = {key: "；".join(texts) for key, texts in by_row.items()}
    return _report(result, ERROR_HEADER, messages, general, Font(color="C62828"))


def build_result_report(result: ImportResult) -> bytes:
    """After a good import: the file's own rows with a 结果 column (新建, 更新: which
    columns changed, 无变化)."""
    messages = {key: str(outcome) for key, outcome in result.outcomes.items()}
    return _report(result, RESULT_HEADER, messages, [], None)


def _report(
    result: ImportResult,
    header: str,
    messages: dict[tuple[str, int], str],
    general: list[str],
    font: Font | None,
) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    if general:
        ws = wb.create_sheet(header)
        ws.append([header])
        for line in general:
            ws.append([safe_cell(line)])
    for title in (UNIT_SHEET, PERSON_SHEET):
        sheet = result.sheets.get(title)
        if sheet is None:
            continue
        ws = wb.create_sheet(title)
        # A report sent back in keeps one such column, not one more per round.
        own = {ERROR_HEADER, RESULT_HEADER}
        headers = [h for h in sheet.headers if h not in own]
        keep = [i for i, h in enumerate(sheet.headers) if h not in own]
        # The uploaded headers are untrusted text like the cells below them.
        ws.append([*(safe_cell(h) for h in headers), header])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for number, raw, _values in sheet.rows:
            cells = [safe_cell(raw[i]) if i < len(raw) else "" for i in keep]
            message = messages.get((title, number), "")
            ws.append([*cells, safe_cell(message)])
            if message and font is not None:
                ws.cell(row=ws.max_row, column=len(headers) + 1).font = font
        ws.column_dimensions[get_column_letter(len(headers) + 1)].width = 60
        ws.freeze_panes = "A2"
    if not wb.sheetnames:
        wb.create_sheet(header)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
