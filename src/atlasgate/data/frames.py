"""Reading tabular data (CSV, JSON lines, Parquet) from files and request bodies.

Every reader turns a parse failure into a ``DataError`` that names the file and,
where the format has lines, the line, so that a person can fix the input.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import orjson
import pandas as pd

from atlasgate.data.errors import DataError

FORMATS = ("csv", "jsonl", "parquet")
# Far beyond any tabular training set a schema names, and small enough that checking
# the columns of a hostile batch stays cheap.
MAX_COLUMNS = 10_000

_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}
_SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_PARQUET_MAGIC = b"PAR1"


def format_for_content_type(content_type: str) -> str:
    """Map an HTTP Content-Type (parameters ignored) to one of ``FORMATS``."""
    media = content_type.split(";", 1)[0].strip().lower()
    fmt = _CONTENT_TYPES.get(media)
    if fmt is None:
        known = ", ".join(sorted(_CONTENT_TYPES))
        raise DataError(f"unsupported content type {media or '(none)'!r}; send one of {known}")
    return fmt


def format_for_path(path: str | Path) -> str:
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(
            "cannot tell the format from the file name; use .csv, .jsonl or .parquet",
            str(path),
        )
    return fmt


def read_path(path: str | Path) -> pd.DataFrame:
    """Read a data file; the format follows from its suffix."""
    name = str(path)
    fmt = format_for_path(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError("no such file", name) from None
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", name) from None
    return read_bytes(data, fmt, name)


def read_bytes(data: bytes, fmt: str, name: str = "<body>") -> pd.DataFrame:
    if fmt == "csv":
        frame = _read_csv(data, name)
    elif fmt == "jsonl":
        frame = _read_jsonl(data, name)
    elif fmt == "parquet":
        frame = _read_parquet(data, name)
    else:
        raise DataError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}", name)
    if frame.shape[0] == 0:
        raise DataError("no rows", name)
    if frame.shape[1] == 0:
        raise DataError("no columns", name)
    if frame.shape[1] > MAX_COLUMNS:
        raise DataError(f"{frame.shape[1]} columns; at most {MAX_COLUMNS} are accepted", name)
    _check_column_names(frame, name)
    return frame


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"not valid UTF-8 (byte {exc.start})", name, line) from None


def _read_csv(data: bytes, name: str) -> pd.DataFrame:
    text = _decode(data, name)
    if not text.strip():
        raise DataError("empty file", name)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DataError(f"bad CSV header: {exc}", name, 1) from None
    if len(header) > MAX_COLUMNS:
        raise DataError(f"{len(header)} columns; at most {MAX_COLUMNS} are accepted", name, 1)
    duplicated = sorted(c for c, n in Counter(header).items() if n > 1)
    if duplicated:
        raise DataError(f"duplicate column {duplicated[0]!r}", name, 1)
    width = len(header)
    try:
        for row in reader:
            if row and len(row) != width:
                raise DataError(
                    f"expected {width} fields as in the header, saw {len(row)}",
                    name,
                    reader.line_num,
                )
    except csv.Error as exc:
        raise DataError(f"bad CSV: {exc}", name, reader.line_num) from None
    try:
        return pd.read_csv(io.StringIO(text), skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise DataError(f"bad CSV: {exc}".strip(), name, int(found.group(1)) if found else None) from None


def _read_jsonl(data: bytes, name: str) -> pd.DataFrame:
    text = _decode(data, name)
    records: list[dict[str, object]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc}", name, number) from None
        if not isinstance(value, dict):
            raise DataError(f"each line must be a JSON object, not {type(value).__name__}", name, number)
        for key, item in value.items():
            if isinstance(item, dict | list):
                raise DataError(
                    f"field {key!r} is nested ({type(item).__name__}); rows must be flat",
                    name,
                    number,
                )
        records.append(value)
    if not records:
        raise DataError("no rows", name)
    return pd.DataFrame.from_records(records)


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(data) < 8 or not (data[:4] == _PARQUET_MAGIC and data[-4:] == _PARQUET_MAGIC):
        raise DataError("not a Parquet file (missing PAR1 magic bytes)", name)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"cannot read Parquet: {exc}", name) from None
    try:
        return table.to_pandas()
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(f"cannot convert Parquet columns: {exc}", name) from None


def _check_column_names(frame: pd.DataFrame, name: str) -> None:
    columns = [str(c) for c in frame.columns]
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise DataError(f"duplicate column {column!r}", name, 1)
        seen.add(column)
    frame.columns = columns


def write_frame(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a frame in the format its suffix names (used by tests, the bench and docs)."""
    fmt = format_for_path(path)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
