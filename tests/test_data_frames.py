"""Reading batches: every malformed input names the file, the line and the reason."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from atlasgate.data.errors import DataError
from atlasgate.data.frames import (
    MAX_COLUMNS,
    format_for_content_type,
    read_bytes,
    read_path,
    write_frame,
)


def test_csv_with_a_ragged_row_names_its_line():
    with pytest.raises(DataError) as err:
        read_bytes(b"a,b\n1,2\n3,4,5\n", "csv", "batch.csv")
    assert str(err.value).startswith("batch.csv:3:")
    assert "expected 2 fields" in str(err.value)


def test_csv_with_broken_utf8_names_its_line():
    with pytest.raises(DataError) as err:
        read_bytes(b"a,b\n1,2\n\xff\xfe,3\n", "csv", "batch.csv")
    assert str(err.value).startswith("batch.csv:3:")
    assert "UTF-8" in str(err.value)


def test_csv_with_duplicate_header_is_refused():
    with pytest.raises(DataError, match="duplicate column 'a'"):
        read_bytes(b"a,a\n1,2\n", "csv", "batch.csv")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_batch_wider_than_max_columns_is_refused(fmt: str) -> None:
    names = [f"c{i}" for i in range(MAX_COLUMNS + 1)]
    data = (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode() if fmt == "csv" \
        else orjson.dumps(dict.fromkeys(names, 1)) + b"\n"
    with pytest.raises(DataError, match=f"{MAX_COLUMNS + 1} columns; at most {MAX_COLUMNS}"):
        read_bytes(data, fmt, "wide")


def test_a_duplicate_column_in_a_wide_header_is_named() -> None:
    names = [f"c{i}" for i in range(MAX_COLUMNS - 1)] + ["c7"]
    with pytest.raises(DataError, match="duplicate column 'c7'"):
        read_bytes((",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode(),
                   "csv", "wide.csv")


def test_jsonl_bad_line_is_reported_with_its_number():
    with pytest.raises(DataError) as err:
        read_bytes(b'{"a": 1}\n{"a": 2}\n{"a": \n', "jsonl", "rows.jsonl")
    assert str(err.value).startswith("rows.jsonl:3:")


def test_jsonl_rows_must_be_flat_objects():
    with pytest.raises(DataError, match=r"rows\.jsonl:2: each line must be a JSON object"):
        read_bytes(b'{"a": 1}\n[1, 2]\n', "jsonl", "rows.jsonl")
    with pytest.raises(DataError, match="nested"):
        read_bytes(b'{"a": {"b": 1}}\n', "jsonl", "rows.jsonl")


def test_parquet_round_trip_and_garbage(tmp_path):
    frame = pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]})
    path = tmp_path / "f.parquet"
    write_frame(frame, path)
    assert read_path(path).equals(frame)
    with pytest.raises(DataError, match="not a Parquet file"):
        read_bytes(b"x,y\n1,2\n", "parquet", "f.parquet")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="empty"):
        read_bytes(b"", "csv", "e.csv")
    with pytest.raises(DataError, match="no such file"):
        read_path(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_path(tmp_path / "data.xlsx")


def test_content_types_map_to_formats():
    assert format_for_content_type("text/csv; charset=utf-8") == "csv"
    assert format_for_content_type("application/x-ndjson") == "jsonl"
    assert format_for_content_type("application/vnd.apache.parquet") == "parquet"
    with pytest.raises(DataError, match="unsupported content type 'application/xml'"):
        format_for_content_type("application/xml")
