"""XLSX export shared by every list page. Cell text is untrusted (software names come from
endpoints), so anything a spreadsheet would read as a formula is neutralised."""

from __future__ import annotations

import datetime
import io
from collections.abc import Collection, Iterable, Sequence
from itertools import islice
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
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


# Column widths are read off this many first rows: a write-only sheet takes its widths
# before its rows, and the rows stream through without being held.
WIDTH_SAMPLE_ROWS = 500


def build_workbook(
    sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]],
    *,
    text_columns: Collection[int] = (),
) -> bytes:
    """One sheet per (title, headers, rows). ``text_columns`` (0-based) are formatted as
    text, for the cells given and for what people type into them later, so Excel keeps
    versions ("16.0") and long serial numbers as written instead of turning them into
    numbers.

    Written in openpyxl's write-only mode: a province's 100,000 devices would otherwise be
    held as a million cell objects before the file is written."""
    wb = Workbook(write_only=True)
    try:
        for title, headers, rows in sheets:
            _write_sheet(wb, title, headers, rows, text_columns)
        buf = io.BytesIO()
        wb.save(buf)
    except BaseException:
        _discard_sheets(wb)
        raise
    return buf.getvalue()


def _write_sheet(
    wb: Workbook,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    text_columns: Collection[int],
) -> None:
    ws = wb.create_sheet(title=title[:31])
    rows = iter(rows)
    sample = [[safe_cell(v) for v in row] for row in islice(rows, WIDTH_SAMPLE_ROWS)]
    widths = [len(str(h)) * 2 + 2 for h in headers]
    for values in sample:
        for i, v in enumerate(values[: len(widths)]):
            widths[i] = min(60, max(widths[i], len(str(v)) + 2))
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for i in text_columns:
        ws.column_dimensions[get_column_letter(i + 1)].number_format = "@"
    ws.freeze_panes = "A2"
    header = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=safe_cell(h))
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for values in sample:
        ws.append(_text_cells(ws, values, text_columns))
    for row in rows:
        ws.append(_text_cells(ws, [safe_cell(v) for v in row], text_columns))


def _discard_sheets(wb: Workbook) -> None:
    """A write-only sheet streams its rows into a temporary file that only ``save`` removes:
    an export that fails half-way (a database error in its rows) must not leave the rows it
    had, people's names among them, on disk until the worker exits."""
    for ws in wb.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        # Closing the sheet ends its row stream first (else the stream, collected later,
        # writes into the closed file); the file goes whatever state its writer is in.
        for close in (ws.close, writer.close):
            try:
                close()
                break
            except Exception:  # try the next way of closing
                continue
        try:
            writer.cleanup()
        except (OSError, ValueError):
            pass


def _text_cells(ws: Any, values: list[Any], text_columns: Collection[int]) -> list[Any]:
    for i in text_columns:
        if i < len(values):
            cell = WriteOnlyCell(ws, value=values[i])
            cell.number_format = "@"
            values[i] = cell
    return values


def xlsx_response(filename: str, content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    from urllib.parse import quote

    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
