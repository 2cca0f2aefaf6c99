"""Campaign file formats: CSV (``,`` ``;`` or tab), JSON (list-users output, JSON Lines), text.

Every reader yields ``(line, username or Reject)`` with the line an editor shows (from 1,
lines ending at LF or CRLF only, see :mod:`worker.campaign.textfile`).

* **CSV** - the header names the user column ``username``, ``Username`` or
  ``cognito:username`` (the Cognito console's user export and ``get-csv-header``); the
  delimiter is the one of ``,`` ``;`` tab under which the header has that column. A quoted
  field may span lines (at most :data:`MAX_RECORD_LINES`); a quote that is not closed
  that way, or a misplaced one, rejects its own line and reading resumes at the next line.
* **JSON** - a stream of JSON values, pretty or compact, one a line or not: ``aws
  cognito-idp list-users`` pages (``{"Users": [{"Username": ...}, ...]}``, one or several
  concatenated), objects with ``username`` or ``Username`` (JSON Lines), or an array of
  such objects (``jq .Users``). A value nested deeper than :data:`MAX_DEPTH` is rejected
  before the parser sees it; a value that is not valid JSON rejects its line and reading
  resumes at the next line.
* **text** - one username a line.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from worker.campaign.rows import Reject, check_row
from worker.campaign.textfile import decode_input, split_lines
from worker.errors import CampaignError

__all__ = [
    "MAX_DEPTH",
    "MAX_RECORD_LINES",
    "USER_COLUMNS",
    "FileFormat",
    "detect_format",
    "read_rows",
]

FileFormat = Literal["csv", "json", "jsonl", "text"]
"""``jsonl`` is read like ``json`` (a JSON Lines file is a stream of JSON values)."""
Row = tuple[int, str | Reject]

USER_COLUMNS = ("cognito:username", "username")
"""CSV header names of the user column, compared case-insensitively, preferred in order."""
MAX_RECORD_LINES = 20
"""Most lines one CSV record may span (a quoted field holding line breaks)."""
MAX_DEPTH = 32
"""Deepest JSON nesting read (list-users output nests 5 deep)."""

_DELIMITERS = (",", ";", "\t")
_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{}]')
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\r\n]*")


def detect_format(path: str, text: str) -> FileFormat:
    """The format by the file's extension (``.csv .tsv .tab .json .jsonl .ndjson``), else
    by its first non-blank line: ``{`` or ``[`` is JSON, a header with a user column
    (any of the delimiters) is CSV, anything else is text (``.txt`` included: Excel's
    "Unicode Text" is tab-separated)."""
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    first = next((line.strip() for line in text.split("\n", 64)[:64] if line.strip()), "")
    if first.startswith(("{", "[")):
        return "json"
    if _header(first) is not None:
        return "csv"
    return "text"


def read_rows(data: bytes | str, fmt: FileFormat) -> Iterator[Row]:
    """Yield ``(line, username or Reject)`` for every row of ``data`` in format ``fmt``.

    ``data`` as bytes is decoded first (:func:`worker.campaign.textfile.decode_input`).

    Raises:
        CampaignError: bytes in an encoding that is not accepted, or a CSV file whose
            header has no user column.
    """
    text = decode_input(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    if fmt == "csv":
        return _csv_rows(text)
    if fmt in ("json", "jsonl"):
        return _json_rows(text)
    return _text_rows(text)


def _text_rows(text: str) -> Iterator[Row]:
    for line, value in split_lines(text):
        yield line, value if isinstance(value, Reject) else check_row(line, value)


# --- CSV ---------------------------------------------------------------------------------


def _header(line: str) -> tuple[str, int, list[str]] | None:
    """``(delimiter, user column, names)`` if ``line`` is a header with a user column."""
    found: list[tuple[int, str, int, list[str]]] = []
    for delimiter in _DELIMITERS:
        try:
            names = next(csv.reader([line], delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration):
            continue
        folded = [name.strip().lower() for name in names]
        for wanted in USER_COLUMNS:
            if wanted in folded:
                found.append((line.count(delimiter), delimiter, folded.index(wanted), names))
                break
    if not found:
        return None
    _, delimiter, column, names = max(found, key=lambda item: item[0])  # first on a tie
    return delimiter, column, names


def _csv_rows(text: str) -> Iterator[Row]:
    lines = list(split_lines(text))
    index = 0
    while index < len(lines) and (isinstance(lines[index][1], Reject) or not lines[index][1]):
        value = lines[index][1]
        if isinstance(value, Reject):
            yield lines[index][0], value
        index += 1
    if index == len(lines):
        return
    number, header_line = lines[index]
    assert isinstance(header_line, str)
    header = _header(header_line)
    if header is None:
        raise CampaignError(
            f"line {number}: the CSV header has no user column (looked for 'username', "
            f"'Username' or 'cognito:username', separated by ',', ';' or tab): "
            f"{header_line[:200]!r}"
        )
    delimiter, column, names = header
    label = names[column].strip()
    index += 1
    while index < len(lines):
        number, value = lines[index]
        if isinstance(value, Reject):
            yield number, value
            index += 1
            continue
        if '"' in value:
            record, used = _record(lines, index, delimiter)
        else:  # no quote, no quoting: the fields are what the delimiter separates
            record, used = value.split(delimiter), 1
        index += used
        if isinstance(record, Reject):
            yield number, record
        elif not any(field.strip() for field in record):
            empty = not value.strip()
            why = "empty line" if empty else f"no value in the '{label}' column (only delimiters)"
            yield number, Reject(number, why)
        elif column >= len(record):
            yield number, Reject(number, f"no value in the '{label}' column")
        else:
            yield number, check_row(number, record[column])


def _record(lines: list[Row], index: int, delimiter: str) -> tuple[list[str] | Reject, int]:
    """The CSV record starting at ``lines[index]`` and how many lines it took (at least 1).

    A record spans lines only while a quoted field is open; a quote that does not close
    within :data:`MAX_RECORD_LINES` lines, or a record the strict CSV reader refuses,
    rejects the first line alone (1 line used), so reading resumes at the next line.
    """
    number, first = lines[index]
    assert isinstance(first, str)
    text, quotes, used = first, first.count('"'), 1
    while quotes % 2 and used < MAX_RECORD_LINES and index + used < len(lines):
        following = lines[index + used][1]
        if isinstance(following, Reject):
            break
        text += "\n" + following
        quotes += following.count('"')
        used += 1
    if quotes % 2:
        return _stray_quote(number, first, "it is not closed"), 1
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return _stray_quote(number, first, f"not valid CSV: {exc}"), 1
    if not records:
        return [], 1  # an empty line
    if len(records) != 1:
        return _stray_quote(number, first, "it is not closed"), 1
    return records[0], used


def _stray_quote(number: int, line: str, why: str) -> Reject:
    column, open_at = 0, 0
    for position, char in enumerate(line, start=1):
        if char == '"':
            open_at = 0 if open_at else position
            column = column or position
    return Reject(number, f'stray quote (") at column {open_at or column}: {why}')


# --- JSON --------------------------------------------------------------------------------


class _Positions:
    """Line numbers of offsets in a text."""

    def __init__(self, text: str) -> None:
        self._ends = [match.start() for match in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_left(self._ends, offset) + 1

    def next_line_start(self, offset: int) -> int:
        index = bisect.bisect_left(self._ends, offset)
        return self._ends[index] + 1 if index < len(self._ends) else -1


def _json_rows(text: str) -> Iterator[Row]:
    rows: list[Row] = []
    clean: list[str] = []
    for number, value in split_lines(text):
        if isinstance(value, Reject):
            rows.append((number, value))
            clean.append("")  # keeps every later line where it is
        else:
            clean.append(value)
    body = "\n".join(clean)
    rows.extend(_json_values(body, _Positions(body)))
    rows.sort(key=lambda row: row[0])  # stable: a line's rows stay in order
    return iter(rows)


def _json_values(text: str, where: _Positions) -> Iterator[Row]:
    position = _skip_space(text, 0)
    while position < len(text):
        line = where.line(position)
        single = _one_line_value(text, position)
        if single is not None:  # the usual JSON Lines row
            value, position = single
            yield from _json_users(value, line, {2: [], 3: []}, where)
            position = _skip_space(text, position)
            continue
        too_deep_at, objects = _scan(text, position)
        try:
            if too_deep_at is not None:
                _DECODER.raw_decode(text[:too_deep_at], position)  # depth <= MAX_DEPTH here
                value, end = None, -1  # unreachable: the prefix ends inside the value
            else:
                value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            if too_deep_at is not None and exc.pos >= too_deep_at:
                reason = f"JSON nested deeper than {MAX_DEPTH} levels"
            else:
                reason = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            yield line, Reject(line, reason)
            resume = where.next_line_start(position)
            if resume < 0:
                return
            position = _skip_space(text, resume)
            continue
        yield from _json_users(value, line, objects, where)
        position = _skip_space(text, end)


def _skip_space(text: str, position: int) -> int:
    found = _SPACE.match(text, position)
    return found.end() if found else position


def _one_line_value(text: str, start: int) -> tuple[Any, int] | None:
    """The value at ``start`` and its end when it is whole on its line and cannot nest
    deeper than :data:`MAX_DEPTH` (fewer opening brackets than that on the line); else
    None (the careful path decides)."""
    end = text.find("\n", start)
    segment = text[start:] if end < 0 else text[start:end]
    if segment.count("[") + segment.count("{") > MAX_DEPTH:
        return None
    try:
        value, used = _DECODER.raw_decode(segment)
    except json.JSONDecodeError:
        return None
    if segment[used:].strip(" \t\r"):
        return None  # something follows on the line: the careful path reports it
    return value, start + used


def _scan(text: str, start: int) -> tuple[int | None, dict[int, list[int]]]:
    """Follow the brackets of the value at ``start`` (strings skipped) to its end.

    Returns the offset where the nesting passed :data:`MAX_DEPTH` (or None) and the offsets
    of the objects that open at depths 2 and 3 (array elements and list-users users).
    """
    objects: dict[int, list[int]] = {2: [], 3: []}
    if text[start] not in "[{":
        return None, objects
    depth = 0
    for match in _TOKENS.finditer(text, start):
        char = text[match.start()]
        if char == '"':
            continue
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start(), objects
            if char == "{" and depth in objects:
                objects[depth].append(match.start())
        else:
            depth -= 1
            if depth <= 0:
                break
    return None, objects


def _json_users(
    value: Any, line: int, objects: dict[int, list[int]], where: _Positions
) -> Iterator[Row]:
    if isinstance(value, dict) and "Users" in value:
        users = value["Users"]
        if not isinstance(users, list):
            yield line, Reject(line, "'Users' is not a list")
            return
        yield from _elements(users, line, objects[3], where)
    elif isinstance(value, list):
        yield from _elements(value, line, objects[2], where)
    else:
        yield line, _user(value, line)


def _elements(items: list[Any], line: int, starts: list[int], where: _Positions) -> Iterator[Row]:
    exact = len(starts) == len(items)  # every element an object: each has its own line
    for index, item in enumerate(items):
        at = where.line(starts[index]) if exact else line
        yield at, _user(item, at)


def _user(item: Any, line: int) -> str | Reject:
    if not isinstance(item, dict):
        return Reject(line, f"expected a JSON object with 'Username', found {type(item).__name__}")
    for key in ("Username", "username"):
        if key in item:
            name = item[key]
            if not isinstance(name, str):
                return Reject(line, f"'{key}' is not a string")
            return check_row(line, name)
    return Reject(line, "no 'Username' or 'username' field")
