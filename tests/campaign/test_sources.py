"""Campaign input: formats, line numbers, reasons for rejects, duplicates (no Redis)."""

from __future__ import annotations

import json

import pytest

from worker.campaign.ingest import collect_rows, estimate_seconds
from worker.campaign.sources import Reject, detect_format, read_rows
from worker.errors import CampaignError


def _intake(data: bytes, fmt: str) -> tuple[list[str], list[Reject], int]:
    accepted: list[str] = []
    intake, _ = collect_rows(data, fmt)  # type: ignore[arg-type]
    for _, value in read_rows(data, fmt):  # type: ignore[arg-type]
        if isinstance(value, str):
            accepted.append(value)
    return accepted, intake.rejects, intake.duplicates


def test_text_rows_with_rejects_and_duplicates() -> None:
    data = b"alice\n\nbob\n" + b"x" * 129 + b"\nal ice\nalice\r\ncarol\n"
    accepted, rejects, duplicates = _intake(data, "text")
    assert [r.as_dict() for r in rejects] == [
        {"line": 2, "reason": "empty username"},
        {"line": 4, "reason": "username is 129 characters long; at most 128 are allowed"},
        {"line": 5, "reason": rejects[2].reason},
    ]
    assert "not allowed" in rejects[2].reason
    assert duplicates == 1
    assert accepted == ["alice", "bob", "alice", "carol"]  # read_rows does not deduplicate


def test_a_file_in_another_encoding_is_refused_with_how_to_save_it() -> None:
    with pytest.raises(CampaignError, match=r"line 3 holds the byte 0xff.*save it as UTF-8"):
        list(read_rows(b"alice\nbob\n\xff\xfeuser\n", "text"))


def test_csv_line_numbers_follow_the_editor() -> None:
    data = (
        b"email,username\n"
        b"a@example.com,alice\n"
        b'"multi\nline",bob\n'
        b"c@example.com\n"
        b"\n"
        b"d@example.com,carol\n"
    )
    intake, _ = collect_rows(data, "csv")
    assert intake.accepted == 3
    assert [r.as_dict() for r in intake.rejects] == [
        {"line": 5, "reason": "no value in the 'username' column"},
        {"line": 6, "reason": "empty line"},
    ]


def test_csv_without_username_column_is_refused() -> None:
    with pytest.raises(CampaignError, match="no user column"):
        list(read_rows(b"email,name\na@b.c,alice\n", "csv"))


def test_json_lines() -> None:
    lines = [
        json.dumps({"username": "alice", "email": "a@example.com"}),
        "{not json",
        json.dumps({"user": "bob"}),
        json.dumps({"username": 7}),
        json.dumps(["username"]),
        json.dumps({"username": "bob"}),
    ]
    intake, _ = collect_rows(("\n".join(lines) + "\n").encode(), "jsonl")
    assert intake.accepted == 2
    reasons = {r.line: r.reason for r in intake.rejects}
    assert reasons[2].startswith("not valid JSON")
    assert reasons[3] == "no 'Username' or 'username' field"
    assert reasons[4] == "'username' is not a string"
    assert reasons[5] == "expected a JSON object with 'Username', found str"


def test_bom_and_crlf_are_handled() -> None:
    intake, _ = collect_rows(b"\xef\xbb\xbfusername\r\nalice\r\nbob\r\n", "csv")
    assert intake.accepted == 2
    assert intake.rejects == []


@pytest.mark.parametrize(
    ("path", "head", "expected"),
    [
        ("users.csv", b"anything", "csv"),
        ("users.jsonl", b"anything", "json"),
        ("users.json", b"anything", "json"),
        ("users.tsv", b"anything", "csv"),
        ("users.txt", b"username,email", "csv"),
        ("users.txt", b"Username\temail", "csv"),
        ("users.txt", b"email;cognito:username", "csv"),
        ("users.txt", b"alice", "text"),
        ("-", b'{"username": "a"}\n', "json"),
        ("-", b'\n  [{"Username": "a"}]\n', "json"),
        ("-", b"\n\nUsername,email\n", "csv"),
        ("-", b"alice\nbob\n", "text"),
        ("users", b"alice\n", "text"),
    ],
)
def test_format_detection(path: str, head: bytes, expected: str) -> None:
    assert detect_format(path, head.decode()) == expected


def test_only_the_first_thousand_rejects_are_kept() -> None:
    intake, _ = collect_rows(b"\n" * 1500, "text")
    assert intake.rejected == 1500
    assert len(intake.rejects) == 1000


def test_estimate() -> None:
    assert estimate_seconds(0, 32.0) == 0.0
    assert estimate_seconds(3200, 32.0) == 100.0
