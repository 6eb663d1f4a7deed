import datetime
import io

from openpyxl import load_workbook

from zhengban.core.exports import WIDTH_SAMPLE_ROWS, build_workbook


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
