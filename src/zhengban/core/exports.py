"""XLSX files: the export shared by every list page, and the check an uploaded workbook passes
before openpyxl reads it. Cell text is untrusted (software names come from endpoints), so
anything a spreadsheet would read as a formula is neutralised."""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Collection, Iterable, Sequence
from itertools import islice
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
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


# An uploaded workbook may inflate to this many bytes in all (the ZIP members' declared
# sizes, which zipfile holds every read to). The upload limit is on the compressed size,
# which XML shrinks a thousandfold, and openpyxl keeps the whole shared-strings part in
# memory even in read-only mode: 61 MB of it took 18 s and 420 MB. The importers' largest
# real files fit: 2 x 20,000 rows of units and people come to about 28 MB, 90,000 rows of
# the inventory template to about 50 MB; a larger one is to be split. settings.ZHENGBAN
# ["XLSX_MAX_UNCOMPRESSED_BYTES"] changes it.
XLSX_MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024


class XlsxRefused(ValueError):
    """An uploaded workbook not to be opened: not a ZIP archive, or too large inflated.
    ``message`` is for the person who uploaded it."""

    def __init__(self, message: str, *, too_large: bool) -> None:
        super().__init__(message)
        self.message = message
        self.too_large = too_large


def xlsx_max_uncompressed_bytes() -> int:
    return int(
        getattr(settings, "ZHENGBAN", {}).get(
            "XLSX_MAX_UNCOMPRESSED_BYTES", XLSX_MAX_UNCOMPRESSED_BYTES
        )
    )


def check_xlsx_archive(fileobj: Any) -> None:
    """Raises ``XlsxRefused`` unless ``fileobj`` (seekable) is a ZIP archive whose members
    inflate to at most ``xlsx_max_uncompressed_bytes()`` together. Reads only the archive's
    directory, and leaves the file at its start for openpyxl."""
    cap = xlsx_max_uncompressed_bytes()
    try:
        fileobj.seek(0)
        with zipfile.ZipFile(fileobj) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        # A member claiming a newer ZIP version or an unknown compression method.
        NotImplementedError,
    ) as exc:
        raise XlsxRefused(_("不是有效的 XLSX 文件。"), too_large=False) from exc
    finally:
        fileobj.seek(0)
    if total > cap:
        raise XlsxRefused(
            _("XLSX 文件解压后超过 %(mb)d MB，请删去多余的内容或分成几个文件导入。")
            % {"mb": cap // (1024 * 1024)},
            too_large=True,
        )


def xlsx_response(filename: str, content: bytes) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX_CONTENT_TYPE)
    from urllib.parse import quote

    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response
