import datetime
import io
import struct
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from zhengban.core.exports import (
    WIDTH_SAMPLE_ROWS,
    XlsxRefused,
    build_workbook,
    check_xlsx_archive,
)


def test_a_long_sheet_streams_every_row_with_its_formats():
    total = WIDTH_SAMPLE_ROWS * 2 + 7
    rows = (
        (f"pc-{n:05d}", "16.0" if n % 2 else "=cmd|' /C calc'!A0", datetime.date(2024, 3, 1), n)
        for n in range(total)
    )
    data = build_workbook([("终端", ["计算机名", "版本", "日期", "序号"], rows)], text_columns=[1])
    sheet = load_workbook(io.BytesIO(data))["终端"]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == total + 1
    assert values[0] == ("计算机名", "版本", "日期", "序号")
    assert values[1] == ("pc-00000", "'=cmd|' /C calc'!A0", datetime.datetime(2024, 3, 1), 0)
    assert values[-2] == (f"pc-{total - 2:05d}", "16.0", datetime.datetime(2024, 3, 1), total - 2)
    assert sheet["A1"].font.b is True
    assert (sheet["B2"].number_format, sheet[f"B{total + 1}"].number_format) == ("@", "@")
    assert sheet.column_dimensions["B"].number_format == "@"
    # Widths come from the header and the first rows: "pc-00000" is 8 characters.
    assert (sheet.column_dimensions["A"].width, sheet.column_dimensions["D"].width) == (10, 6)
    assert sheet.freeze_panes == "A2"


def test_an_export_that_fails_half_way_leaves_no_rows_on_disk(tmp_path, monkeypatch):
    import tempfile

    import pytest

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def rows():
        for n in range(WIDTH_SAMPLE_ROWS + 300):
            yield (f"张三-{n}", n)
        raise RuntimeError("statement timeout")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="statement timeout"):
            build_workbook([("a", ["使用人", "序号"], rows()), ("b", ["x"], [])])
    assert list(tmp_path.iterdir()) == []
    # A sheet written whole before the failing one goes too.
    with pytest.raises(RuntimeError):
        build_workbook([("a", ["x"], [(1,)] * 10), ("b", ["使用人", "序号"], rows())])
    assert list(tmp_path.iterdir()) == []


def with_shared_strings(workbook: bytes, inflated_bytes: int) -> bytes:
    """``workbook`` with a shared-strings part of ``inflated_bytes`` that compresses to a few
    KB: the shape of a decompression bomb, still a workbook openpyxl reads."""
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    )
    entry = b"<si><t>xxxxxxxxxxxxxxxx</t></si>"
    count = (inflated_bytes - len(head) - len(b"</sst>")) // len(entry) + 1
    source = zipfile.ZipFile(io.BytesIO(workbook))
    # Our openpyxl writes strings inline: the workbook has no such part of its own.
    assert "xl/sharedStrings.xml" not in source.namelist()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                    b"</Types>",
                )
            if item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdSS" Type="http://schemas.openxmlformats.org/'
                    b'officeDocument/2006/relationships/sharedStrings" '
                    b'Target="sharedStrings.xml"/></Relationships>',
                )
            target.writestr(item.filename, data)
        target.writestr("xl/sharedStrings.xml", head + entry * count + b"</sst>")
    return out.getvalue()


def _small_workbook() -> bytes:
    wb = Workbook()
    wb.active.append(["计算机名*", "软件名称*"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_an_upload_that_inflates_past_the_cap_is_refused_before_it_is_read(settings):
    settings.ZHENGBAN = {**settings.ZHENGBAN, "XLSX_MAX_UNCOMPRESSED_BYTES": 1024 * 1024}
    normal = io.BytesIO(_small_workbook())
    normal.read(10)
    check_xlsx_archive(normal)
    assert normal.tell() == 0  # rewound for openpyxl

    bomb = io.BytesIO(with_shared_strings(_small_workbook(), 2 * 1024 * 1024))
    assert len(bomb.getvalue()) < 20_000
    with pytest.raises(XlsxRefused) as refused:
        check_xlsx_archive(bomb)
    assert (refused.value.message, refused.value.too_large) == (
        "XLSX 文件解压后超过 1 MB，请删去多余的内容或分成几个文件导入。",
        True,
    )
    assert bomb.tell() == 0

    # One byte changed: the first member claims "version needed to extract" 7.2, which
    # zipfile refuses with NotImplementedError.
    newer = bytearray(_small_workbook())
    struct.pack_into("<H", newer, newer.find(b"PK\x01\x02") + 6, 72)
    for junk in (b"not a zip", b"", _small_workbook()[:500], bytes(newer)):
        with pytest.raises(XlsxRefused) as refused:
            check_xlsx_archive(io.BytesIO(junk))
        assert (refused.value.message, refused.value.too_large) == ("不是有效的 XLSX 文件。", False)


def test_a_member_that_understates_its_size_cannot_inflate_past_it():
    # The cap adds up the sizes the archive declares: zipfile stops every read there, so a
    # part that declares less than it holds ends short (and fails its CRC), never inflates.
    bomb = with_shared_strings(_small_workbook(), 2 * 1024 * 1024)
    archive = zipfile.ZipFile(io.BytesIO(bomb))
    info = archive.getinfo("xl/sharedStrings.xml")
    info.file_size = 1000
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"), archive.open(info) as part:
        part.read()
