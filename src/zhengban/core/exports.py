"""XLSX export shared by every list page. Cell text is untrusted (software names come from
endpoints), so anything a spreadsheet would read as a formula is neutralised."""

from __future__ import annotations

import datetime
import io
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\x00")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_cell(value: Any) -> Any:
    """A value safe to write into a cell: text that starts like a formula gets a leading
    apostrophe-equivalent (a single quote) so Excel and WPS show it as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(tzinfo=None)
    if isinstance(value, (int, float, datetime.date)):
        return value
    text = str(value)
    # Characters Excel cannot store in XML would corrupt the file.
    text = "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def build_workbook(
    sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]],
    *,
    text_columns: Collection[int] = (),
) -> bytes:
    """One sheet per (title, headers, rows). ``text_columns`` (0-based) are formatted as
    text, for the cells given and for what people type into them later, so Excel keeps
    versions ("16.0") and long serial numbers as written instead of turning them into
    numbers."""
    wb = Workbook(write_only=False)
    wb.remove(wb.active)
    for title, headers, rows in sheets:
        ws = wb.create_sheet(title=title[:31])
        ws.append([safe_cell(h) for h in headers])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        widths = [len(str(h)) * 2 + 2 for h in headers]
        for row in rows:
            values = [safe_cell(v) for v in row]
            ws.append(values)
            for i, v in enumerate(values[: len(widths)]):
                widths[i] = min(60, max(widths[i], len(str(v)) + 2))
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        for i in text_columns:
            letter = get_column_letter(i + 1)
            ws.column_dimensions[letter].number_format = "@"
            for (cell,) in ws.iter_rows(min_row=2, min_col=i + 1, max_col=i + 1):
                cell.number_format = "@"
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_response(filename: str, content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    from urllib.parse import quote

    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
