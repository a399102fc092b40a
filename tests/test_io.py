"""Reading input tables as text (CSV with/without BOM, xlsx, parquet) and atomic writes."""

from __future__ import annotations

import unicodedata
from datetime import datetime

import openpyxl
import pandas as pd
import pytest

from evaluation.data.io import (
    InputFileError,
    atomic_path,
    nfc,
    read_table,
    write_table,
    write_text,
)

HEADER = ["commune_code", "commune_name", "household_id"]
ROWS = [["13567", "Hợp Lý", "00123"], ["13285", "Quang Trung", "00007"]]


def test_csv_with_and_without_bom_read_identically(csv_writer):
    plain = read_table(csv_writer("plain.csv", HEADER, ROWS))
    bom = read_table(csv_writer("bom.csv", HEADER, ROWS, bom=True))
    pd.testing.assert_frame_equal(plain, bom)
    # The BOM does not stick to the first column's name.
    assert list(bom.columns) == HEADER
    assert bom.loc[2, "commune_code"] == "13567"


def test_every_column_is_text_and_index_is_the_file_row(csv_writer):
    frame = read_table(csv_writer("t.csv", HEADER, ROWS))
    assert all(isinstance(dtype, pd.StringDtype) for dtype in frame.dtypes)
    # Header is row 1, so the first record is row 2: what a person sees in Excel.
    assert list(frame.index) == [2, 3]
    assert frame.index.name == "row"


def test_nfd_vietnamese_becomes_nfc(csv_writer):
    nfd_name = unicodedata.normalize("NFD", "Hợp Lý")
    nfd_column = unicodedata.normalize("NFD", "tên_xã")
    assert nfd_name != "Hợp Lý"  # the two spellings differ byte for byte
    frame = read_table(csv_writer("nfd.csv", ["commune_code", nfd_column], [["13567", nfd_name]]))
    assert frame.loc[2, "tên_xã"] == "Hợp Lý"
    assert list(frame.columns) == ["commune_code", "tên_xã"]
    assert (frame["tên_xã"] == "Hợp Lý").all()


def test_nfc_strips_spaces_and_leaves_other_values():
    assert nfc("  Hợp Lý ") == "Hợp Lý"
    assert nfc(unicodedata.normalize("NFD", "Đồng Văn")) == "Đồng Văn"
    assert nfc(5) == 5


def test_codes_keep_leading_zeros_and_empty_cells_are_missing(csv_writer):
    frame = read_table(csv_writer("z.csv", HEADER, [["00123", "", "0001"], ["13285", "NA", ""]]))
    assert frame.loc[2, "commune_code"] == "00123"
    assert frame.loc[2, "household_id"] == "0001"
    assert pd.isna(frame.loc[2, "commune_name"])
    assert pd.isna(frame.loc[3, "household_id"])
    # "NA" is a word a person typed, not a missing value.
    assert frame.loc[3, "commune_name"] == "NA"


def test_xlsx_numeric_codes_become_plain_text(tmp_path):
    path = tmp_path / "ballots.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["commune_code", "household_id", "survey_date", "q1", "commune_name"])
    sheet.append([13285, "00123", datetime(2019, 10, 25), 4.0, "Hợp Lý"])
    sheet.append([13285.0, "00124", "25/10/2019", 5, unicodedata.normalize("NFD", "Hợp Lý")])
    sheet.append([None, "00125", None, None, "x"])
    book.save(path)
    frame = read_table(path)
    assert frame["commune_code"].tolist()[:2] == ["13285", "13285"]
    assert not frame["commune_code"].str.endswith(".0").any()
    assert frame["household_id"].tolist() == ["00123", "00124", "00125"]
    assert frame.loc[2, "survey_date"] == "2019-10-25"
    assert frame.loc[3, "survey_date"] == "25/10/2019"
    assert frame["q1"].tolist()[:2] == ["4", "5"]
    assert frame.loc[3, "commune_name"] == "Hợp Lý"
    assert pd.isna(frame.loc[4, "commune_code"])
    assert list(frame.index) == [2, 3, 4]


def test_xlsx_reads_a_named_sheet(tmp_path):
    path = tmp_path / "two.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "notes"
    book.active.append(["x"])
    data = book.create_sheet("rollout")
    data.append(["commune_code", "start_date"])
    data.append([13567, "01/10/2019"])
    book.save(path)
    frame = read_table(path, sheet="rollout")
    assert frame.loc[2, "commune_code"] == "13567"


def test_parquet_is_read_as_text(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame(
        {
            "commune_code": [13285, 13567],
            "share": [0.5, 2.0],
            "name": [unicodedata.normalize("NFD", "Hợp Lý"), None],
            "day": pd.to_datetime(["2019-10-25", "2020-01-02"]),
        }
    ).to_parquet(path)
    frame = read_table(path)
    assert frame["commune_code"].tolist() == ["13285", "13567"]
    assert frame["share"].tolist() == ["0.5", "2"]
    assert frame.loc[2, "name"] == "Hợp Lý"
    assert pd.isna(frame.loc[3, "name"])
    assert frame["day"].tolist() == ["2019-10-25", "2020-01-02"]
    assert list(frame.index) == [2, 3]


def test_unsupported_suffix_names_the_readable_formats(tmp_path):
    path = tmp_path / "ballots.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputFileError) as err:
        read_table(path)
    text = str(err.value)
    assert "cannot read '.xls' files" in text
    assert "save it as one of .csv, .xlsx, .parquet" in text


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def test_non_utf8_csv_says_how_to_save_it(csv_writer):
    # Windows-1258 (Vietnamese ANSI) is what older Excel versions write by default.
    path = csv_writer("ansi.csv", HEADER, [["13567", "Nhân Hưng", "1"]], encoding="cp1258")
    with pytest.raises(InputFileError) as err:
        read_table(path)
    text = str(err.value)
    assert "not UTF-8 text" in text
    assert "CSV UTF-8" in text
    assert "ansi.csv" in text


def test_corrupt_xlsx_is_an_input_file_error(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_text("not a zip", "utf-8")
    with pytest.raises(InputFileError, match=r"broken\.xlsx: could not be read as \.xlsx"):
        read_table(path)


def test_atomic_path_leaves_no_file_when_the_block_raises(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half written", "utf-8")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind either


def test_atomic_path_keeps_the_old_file_when_the_block_raises(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old", "utf-8")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new", "utf-8")
        raise RuntimeError("crash")
    assert target.read_text("utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "t.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("done", "utf-8")
    assert target.read_text("utf-8") == "done"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_write_table_round_trips_csv_with_bom_and_parquet(tmp_path):
    frame = pd.DataFrame({"commune_code": ["00123", "13567"], "name": ["Hợp Lý", "Đồng Văn"]})
    csv = write_table(frame, tmp_path / "t.csv")
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel shows Vietnamese correctly
    back = read_table(csv)
    assert back["commune_code"].tolist() == ["00123", "13567"]
    assert back["name"].tolist() == ["Hợp Lý", "Đồng Văn"]
    parquet = read_table(write_table(frame, tmp_path / "t.parquet"))
    assert parquet["commune_code"].tolist() == ["00123", "13567"]
    xlsx = read_table(write_table(frame, tmp_path / "t.xlsx"))
    assert xlsx["name"].tolist() == ["Hợp Lý", "Đồng Văn"]


def test_write_table_rejects_other_suffixes_without_leaving_a_file(tmp_path):
    with pytest.raises(ValueError, match="write CSV, Parquet or XLSX"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.json")
    assert list(tmp_path.iterdir()) == []


def test_write_text_is_utf8(tmp_path):
    path = write_text("Chính quyền thân thiện", tmp_path / "a" / "b.txt")
    assert path.read_bytes() == "Chính quyền thân thiện".encode()


def test_text_from_inputs_never_becomes_an_excel_formula(tmp_path):
    from openpyxl import load_workbook

    names = ['=HYPERLINK("http://evil.example/","x")', "+1", "-2", "@SUM(A1)", "Phủ Lý"]
    path = write_table(pd.DataFrame({"commune_name": names, "n": range(5)}), tmp_path / "t.xlsx")
    sheet = load_workbook(path).active
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == names
    assert all(c.data_type == "s" for c in cells)  # strings, not formulas ("f")


def test_identical_tables_give_identical_workbooks(tmp_path):
    import time

    frame = pd.DataFrame({"commune_name": ["Hợp Lý"], "effect": [0.44]})
    first = write_table(frame, tmp_path / "a.xlsx").read_bytes()
    time.sleep(1.1)  # the zip entries and document properties would carry the time
    assert write_table(frame, tmp_path / "b.xlsx").read_bytes() == first


def test_semicolon_csv_with_decimal_commas_is_read(tmp_path):
    """Excel in a Vietnamese locale saves CSV with ';' between cells and ',' as decimal mark."""
    path = tmp_path / "admin.csv"
    path.write_text(
        "commune_code;period;staff_share\n13567;2019Q4;0,45\n13285;2019Q4;12\n", "utf-8"
    )
    frame = read_table(path)
    assert list(frame.columns) == ["commune_code", "period", "staff_share"]
    assert frame["staff_share"].tolist() == ["0.45", "12"]
    assert frame["period"].tolist() == ["2019Q4", "2019Q4"]


def test_a_row_with_too_many_cells_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "ballots.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6,7\n", "utf-8")
    with pytest.raises(InputFileError) as caught:
        read_table(path)
    message = str(caught.value)
    assert "line 3 has 4 cells but the header has 3" in message
    assert "double quotes" in message and "Error tokenizing" not in message


def test_an_empty_file_is_named_as_empty(tmp_path):
    path = tmp_path / "ballots.csv"
    path.write_bytes(b"")
    with pytest.raises(InputFileError) as caught:
        read_table(path)
    assert caught.value.rule == "file_empty"
    assert "ballots.csv: the file is empty" in str(caught.value)


def test_a_header_only_file_reads_as_no_records(tmp_path):
    path = tmp_path / "ballots.csv"
    path.write_text("a,b,c\n", "utf-8")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "c"] and len(frame) == 0


def test_a_column_name_written_twice_is_refused(tmp_path):
    """pandas would rename the second 'wave' to 'wave.1' and read the first silently."""
    path = tmp_path / "ballots.csv"
    path.write_text("ballot_id,wave,wave\nB1,2019Q4,2020Q1\n", "utf-8")
    with pytest.raises(InputFileError) as caught:
        read_table(path)
    err = caught.value
    assert (err.rule, err.row, err.column, err.value) == (
        "duplicate_column",
        "1 (header)",
        "wave",
        "2 times",
    )


def _workbook(path, sheets, merge=None):
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    book.save(path)
    return path


def test_xlsx_title_rows_above_the_header_are_skipped_and_rows_keep_their_numbers(tmp_path):
    path = _workbook(
        tmp_path / "rollout.xlsx",
        {
            "rollout": [
                ["LỊCH TRIỂN KHAI"],
                [],
                ["commune_code", "start_date"],
                [13567, "2019-10-01"],
            ]
        },
        merge="A1:B1",
    )
    frame = read_table(path, required=["commune_code", "start_date"])
    assert frame["commune_code"].tolist() == ["13567"]
    assert frame.index.tolist() == [4]  # the record sits on the sheet's row 4


def test_xlsx_table_in_a_later_sheet_is_found(tmp_path):
    path = _workbook(
        tmp_path / "rollout.xlsx",
        {"Ghi chú": [["notes"]], "rollout": [["commune_code", "start_date"], [13567, None]]},
    )
    frame = read_table(path, required=["commune_code", "start_date"])
    assert frame["commune_code"].tolist() == ["13567"]


def test_xlsx_merged_data_cells_are_refused(tmp_path):
    path = _workbook(
        tmp_path / "rollout.xlsx",
        {"rollout": [["commune_code", "start_date"], [13567, "2019-10-01"], [13285], [13390]]},
        merge="B2:B4",
    )
    with pytest.raises(InputFileError) as caught:
        read_table(path, required=["commune_code"])
    err = caught.value
    assert (err.rule, err.row, err.column) == ("merged_cells", "2-4", "start_date")
    assert err.value.startswith("B2:B4: 2019-10-01")
