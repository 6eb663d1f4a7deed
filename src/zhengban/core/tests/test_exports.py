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
