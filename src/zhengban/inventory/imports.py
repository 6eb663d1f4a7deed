"""Imports for machines without an agent: a Windows ``.reg`` export of the Uninstall keys, and
the XLSX/CSV template. Each file is one transaction (a bad row writes nothing) and one audit
record per device, with the importing person as the actor.
"""

from __future__ import annotations

import csv
import datetime
import io
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _
from zhengban_agent.inventory import Inventory
from zhengban_agent.regfile import RegParseError, parse_reg, uninstall_entries

from zhengban.core.exports import XlsxRefused, build_workbook, check_xlsx_archive
from zhengban.inventory import document as d
from zhengban.inventory import parsers
from zhengban.inventory.choices import InventorySource
from zhengban.inventory.parsers import InventoryError, limit
from zhengban.inventory.services import IngestResult, ingest_inventory
from zhengban.orgs.models import Unit, User
from zhengban.orgs.services import can_manage_unit

MAX_IMPORT_BYTES = 20 * 1024 * 1024

# ------------------------------------------------------------------------------- .reg


def document_from_regfile(
    data: bytes | list[bytes], *, hostname: str, names: list[str] | None = None
) -> d.InventoryDocument:
    """The software list of ``regedit`` exports of one computer (one file, or several: the
    64-bit, 32-bit (WOW6432Node) and per-user Uninstall keys are exported separately),
    exactly as our Windows agent would send it (the agent's own parser and classification:
    what Programs and Features shows is kind "application", hidden system components and
    updates are kept with their kind). A machine-wide key in more than one file is taken
    once.

    Every user's HKEY_CURRENT_USER export has the same key paths, so per-user entries are
    kept per file, their owner the file's name without its extension (``zhangsan.reg``:
    zhangsan) as the agent records a user's profile folder name; ``names`` are the files'
    names in the order of ``data``. Without names (or with a blank one) the owner is
    用户1, 用户2, … by the file's place among the per-user files. Files of one owner are
    merged like the machine-wide keys."""
    hostname = d.text(hostname, 255)
    if not hostname:
        raise InventoryError("hostname", _("请填写计算机名。"))
    files = [data] if isinstance(data, bytes) else data
    if sum(len(f) for f in files) > MAX_IMPORT_BYTES:
        raise InventoryError("file", _("文件过大。"), status=413)
    machine: dict = {}
    per_user: dict[str, dict] = {}
    for number, content in enumerate(files, start=1):
        try:
            reg = parse_reg(content)
        except (RegParseError, UnicodeDecodeError) as exc:
            where = "file" if len(files) == 1 else f"file[{number}]"
            raise InventoryError(
                where, _("不是有效的注册表导出文件：%(err)s") % {"err": exc}
            ) from exc
        user_keys = {path: values for path, values in reg.items() if _is_current_user(path)}
        machine.update((path, values) for path, values in reg.items() if path not in user_keys)
        if user_keys:
            name = names[number - 1] if names and number <= len(names) else ""
            owner = _owner_from_filename(name) or _("用户%(n)d") % {"n": len(per_user) + 1}
            per_user.setdefault(owner, {}).update(user_keys)
    # (entry, user_names): the agent's user_names maps an entry's SID to its user, and an
    # HKEY_CURRENT_USER entry has none: "" stands for it.
    entries = [(entry, None) for entry in uninstall_entries(machine)]
    for owner, reg in per_user.items():
        entries += [(entry, {"": owner}) for entry in uninstall_entries(reg)]
    if not entries:
        raise InventoryError("file", _("文件中没有卸载信息（…\\CurrentVersion\\Uninstall）。"))
    inventory = Inventory()
    native = _native_arch([entry for entry, _owner in entries])
    for entry, user_names in entries:
        inventory.add_uninstall_entry(entry, user_names=user_names, native_arch=native)
    if len(inventory.softwares) > limit("INVENTORY_MAX_SOFTWARE"):
        raise InventoryError("file", _("软件条目数超过上限。"), status=413)
    doc = parsers.document_from_json(
        {"deviceid": "", "content": {"versionclient": "regfile", "softwares": inventory.softwares}}
    )
    doc.source = InventorySource.REGFILE
    doc.agent = ""
    doc.agent_device_id = ""
    doc.hostname = hostname
    return doc


def _is_current_user(path: str) -> bool:
    root = path.split("\\", 1)[0].upper()
    return root in ("HKEY_CURRENT_USER", "HKCU")


def _owner_from_filename(name: str) -> str:
    """zhangsan.reg, or C:\\导出\\zhangsan.reg as some browsers send it: zhangsan."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    return d.text(stem, 150)


def _native_arch(entries: list) -> str:
    """The exporting Windows' architecture, which the agent reads from the system, told from
    the export: 32-bit only on evidence (Windows XP's own updates, and no sign of 64 bits:
    a WOW6432Node view or a "Program Files (x86)" folder); otherwise 64-bit, as the agent
    assumes, so that a computer imported before keeps its installs' identity."""
    xp = False
    for entry in entries:
        if entry.view == "32":
            return "x86_64"
        for path in (entry.install_location, entry.uninstall_string):
            if path and "program files (x86)" in path.lower():
                return "x86_64"
        xp = xp or "windows xp" in (entry.name or "").lower()
    return "i586" if xp else "x86_64"


def _require_manager(actor: User, unit: Unit) -> None:
    if not can_manage_unit(actor, unit):
        raise PermissionDenied(_("无权为该单位导入软件清单。"))


def import_regfile(
    *,
    actor: User,
    unit: Unit,
    hostname: str,
    data: bytes | list[bytes],
    serial_number: str = "",
    names: list[str] | None = None,
) -> IngestResult:
    _require_manager(actor, unit)
    doc = document_from_regfile(data, hostname=hostname, names=names)
    doc.serial_number = d.hardware_serial(serial_number) or None
    return ingest_inventory(unit=unit, document=doc, actor=actor, message=_("导入注册表导出文件"))


# --------------------------------------------------------------------------- XLSX / CSV

# The template's columns: (header, attribute). The first four describe the computer and may
# be left blank on the rows after its first one.
TEMPLATE_COLUMNS = [
    ("计算机名*", "hostname"),
    ("序列号", "serial_number"),
    ("操作系统", "os_name"),
    ("系统版本", "os_version"),
    ("软件名称*", "name"),
    ("版本", "version"),
    ("发行商", "publisher"),
    ("安装日期", "install_date"),
]
_HEADER_TO_ATTR = {h.rstrip("*"): a for h, a in TEMPLATE_COLUMNS}


def template_workbook() -> bytes:
    headers = [h for h, _a in TEMPLATE_COLUMNS]
    example = [
        [
            "PC-001",
            "CN12345678",
            "Microsoft Windows 10 专业版",
            "22H2",
            "WPS Office",
            "12.1",
            "金山办公",
            "2024-03-01",
        ],
        [
            "",
            "",
            "",
            "",
            "Microsoft Office 专业增强版 2016",
            "16.0.4266.1001",
            "Microsoft Corporation",
            "",
        ],
    ]
    # Every column but the date is text: versions and serials stay as typed. The example
    # is a sheet of its own: only the first sheet is imported, so an example row left in
    # place can never become a computer.
    text = [i for i, (_h, attr) in enumerate(TEMPLATE_COLUMNS) if attr != "install_date"]
    return build_workbook(
        [(_("软件清单"), headers, []), (_("填写示例"), headers, example)], text_columns=text
    )


@dataclass
class _Machine:
    hostname: str
    serial_number: str = ""
    os_name: str = ""
    os_version: str = ""
    software: list[d.Software] = field(default_factory=list)


def _max_rows() -> int:
    return limit("INVENTORY_MAX_SOFTWARE") * 10


def _rows_from_file(filename: str, data: bytes) -> list[list[Any]]:
    """The first sheet's (or the CSV's) rows, header included, each cut to the template's
    width. Read row by row and stopped past the row limit, so that a small file declaring
    a huge sheet costs nothing."""
    if len(data) > MAX_IMPORT_BYTES:
        raise InventoryError("file", _("文件过大。"), status=413)
    width = len(TEMPLATE_COLUMNS)
    max_rows = _max_rows()
    rows: list[list[Any]] = []

    def take(row: Any) -> None:
        if len(rows) > max_rows:
            raise InventoryError("file", _("行数超过上限。"), status=413)
        rows.append(list(row)[: width + 20])

    if filename.lower().endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:  # pragma: no cover - gb18030 decodes any byte string
            raise InventoryError("file", _("无法识别的文件编码。"))
        reader = csv.reader(io.StringIO(text))
        try:
            for row in reader:
                take(row)
        except csv.Error as exc:
            raise InventoryError(
                f"第{reader.line_num}行", _("CSV 格式错误：%(e)s") % {"e": exc}
            ) from exc
        return rows
    from openpyxl import load_workbook

    upload = io.BytesIO(data)
    try:
        # Before openpyxl: it inflates whole parts in memory, whatever the upload's size.
        check_xlsx_archive(upload)
    except XlsxRefused as exc:
        raise InventoryError("file", exc.message, status=413 if exc.too_large else 400) from exc
    try:
        workbook = load_workbook(upload, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        # max_col: a read-only sheet pads every row to the width its <dimension> declares
        # (16,384 columns in a hand-made file); the template's columns come first.
        for row in sheet.iter_rows(values_only=True, max_col=width + 20):
            take(row)
    except InventoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise InventoryError("file", _("不是有效的 XLSX 文件。")) from exc
    return rows


def documents_from_table(filename: str, data: bytes) -> list[d.InventoryDocument]:
    rows = _rows_from_file(filename, data)
    if not rows:
        raise InventoryError("file", _("文件为空。"))
    header = [_header(h) for h in rows[0]]
    columns = {attr: header.index(h) for h, attr in _HEADER_TO_ATTR.items() if h in header}
    for required in ("hostname", "name"):
        if required not in columns:
            raise InventoryError("file", _("缺少必填列“%(col)s”。") % {"col": _col_title(required)})
    machines: dict[str, _Machine] = {}
    serials: dict[str, _Machine] = {}
    current: _Machine | None = None
    for number, row in enumerate(rows[1:], start=2):

        def cell(attr: str, row=row) -> Any:
            index = columns.get(attr)
            return row[index] if index is not None and index < len(row) else None

        if all(d.text(v, 1) == "" for v in row):
            continue  # blank, or only spaces
        hostname = d.text(cell("hostname"), 255)
        if hostname:
            current = machines.setdefault(hostname.casefold(), _Machine(hostname=hostname))
            for attr in ("serial_number", "os_name", "os_version"):
                value = d.text(cell(attr), 255)
                if value:
                    setattr(current, attr, value)
            serial = d.hardware_serial(current.serial_number)
            other = serials.setdefault(serial, current) if serial else current
            if other is not current:
                # One machine under two names: storing both would merge them into one
                # device (matched by serial), the second replacing the first's software.
                raise InventoryError(
                    f"第{number}行",
                    _("序列号“%(s)s”已用于计算机“%(h)s”，同一序列号不能对应两个计算机名。")
                    % {"s": current.serial_number, "h": other.hostname},
                )
        if current is None:
            raise InventoryError(f"第{number}行", _("计算机名不能为空。"))
        name = d.text(cell("name"), d.NAME_MAX)
        if not name:
            raise InventoryError(f"第{number}行", _("软件名称不能为空。"))
        raw_date = cell("install_date")
        install_date = _import_date(raw_date)
        if d.text(raw_date, 1) != "" and install_date is None:
            raise InventoryError(
                f"第{number}行", _("安装日期无法识别：%(v)s") % {"v": d.text(raw_date, 40)}
            )
        current.software.append(
            d.Software(
                name=name,
                version=d.text(cell("version"), d.VERSION_MAX),
                publisher=d.text(cell("publisher"), d.PUBLISHER_MAX),
                install_date=install_date,
                source="spreadsheet",
            )
        )
    if not machines:
        raise InventoryError("file", _("文件中没有数据行。"))
    docs = []
    for machine in machines.values():
        os_info = None
        if machine.os_name:
            os_info = d.OperatingSystem(
                name=machine.os_name,
                version=machine.os_version[: d.VERSION_MAX],
                publisher="Microsoft" if "windows" in machine.os_name.lower() else "",
            )
        docs.append(
            d.InventoryDocument(
                source=InventorySource.SPREADSHEET,
                hostname=machine.hostname,
                serial_number=d.hardware_serial(machine.serial_number) or None,
                os=os_info,
                software=machine.software,
            )
        )
    return docs


def _header(value: Any) -> str:
    """A column title as the template has it, whatever Excel users do to it: spaces, and a
    full-width or ASCII star for a required column."""
    return d.text(value, 50).replace("＊", "*").replace(" ", "").replace("\u3000", "").rstrip("*")


# Excel's day numbers of 1980-01-01 and 2100-12-31: a date cell formatted as "General"
# (or written so into CSV) holds one of these.
_EXCEL_DAYS = (29221, 73415)
_EXCEL_EPOCH = datetime.date(1899, 12, 30)


def _import_date(value: Any) -> datetime.date | None:
    """An install date from a sheet cell: a date, Excel's day number, or text in any form
    the agents' dates take, held to the same plausible range (1980–2100)."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return d.parse_date(value.isoformat())
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        or (
            isinstance(value, str)
            and value.strip().isascii()
            and value.strip().isdigit()
            and len(value.strip()) == 5
        )
    ):
        days = float(value)
        if _EXCEL_DAYS[0] <= days <= _EXCEL_DAYS[1]:
            return _EXCEL_EPOCH + datetime.timedelta(days=int(days))
        if isinstance(value, float):
            return None
    # Text, or a whole number such as 20240301 (Windows' InstallDate form).
    return d.parse_date(value)


def _col_title(attr: str) -> str:
    return next(h for h, a in TEMPLATE_COLUMNS if a == attr).rstrip("*")


@transaction.atomic
def import_table(*, actor: User, unit: Unit, filename: str, data: bytes) -> list[IngestResult]:
    """One file, one transaction: every device in it is stored, or none."""
    _require_manager(actor, unit)
    docs = documents_from_table(filename, data)
    results = []
    for doc in docs:
        try:
            results.append(
                ingest_inventory(
                    unit=unit, document=doc, actor=actor, message=_("导入软件清单表格")
                )
            )
        except InventoryError as exc:
            # Say which computer of the file it was; the whole file is rolled back.
            raise InventoryError(
                _("计算机“%(h)s”") % {"h": doc.hostname}, exc.message, status=exc.status
            ) from exc
    return results
