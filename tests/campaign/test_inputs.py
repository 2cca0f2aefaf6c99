"""Campaign files as operators have them, each built here byte for byte.

Readers alone (fast), then the real CLI (``courier campaign start ... --json``) in a
subprocess on the test Redis: list-users output, Excel's UTF-16 "Unicode Text", ``;``
CSV, a stray quote in 10,000 rows, control characters in text, 100,000-deep JSON, and a
file with nothing to send (exit 2, no campaign created).
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tasks.campaigns import campaign_status, start_campaign
from tests.support.campaigns import wait_for
from tests.support.synthetic import CLIENT_ID, POOL_ID
from worker.campaign.formats import detect_format
from worker.campaign.ingest import collect_rows
from worker.campaign.model import CAMPAIGN_INDEX_KEY
from worker.campaign.rows import Intake
from worker.campaign.textfile import decode_input
from worker.errors import CampaignError, NothingToSendError


def _read(
    data: bytes, path: str = "-", *, case_sensitive: bool = False
) -> tuple[Intake, list[str]]:
    text = decode_input(data)
    return collect_rows(text, detect_format(path, text), case_sensitive=case_sensitive)


def _reasons(intake: Intake) -> dict[int, str]:
    return {r.line: r.reason for r in intake.rejects}


def _page(names: list[str], token: str | None = None) -> dict[str, Any]:
    """One ``aws cognito-idp list-users`` page as the CLI prints it."""
    users = [
        {
            "Username": name,
            "Attributes": [
                {"Name": "sub", "Value": f"0000-{n}"},
                {"Name": "email", "Value": f"{name}@example.com"},
            ],
            "UserCreateDate": "2024-05-01T10:00:00.000000+00:00",
            "Enabled": True,
            "UserStatus": "UNCONFIRMED",
        }
        for n, name in enumerate(names)
    ]
    page: dict[str, Any] = {"Users": users}
    if token:
        page["PaginationToken"] = token
    return page


# --- readers -----------------------------------------------------------------------------


def test_list_users_pretty_one_document_with_line_numbers() -> None:
    document = _page(["alice", "bob", "carol"])
    document["Users"][1]["Username"] = "b o b"  # a space: rejected on its own line
    text = json.dumps(document, indent=4) + "\n"
    intake, names = _read(text.encode(), "users.json")
    assert names == ["alice", "carol"]
    (reject,) = intake.rejects
    lines = text.split("\n")
    assert lines[reject.line - 1].strip() == "{"  # the line where that user's object opens
    assert '"Username": "b o b"' in lines[reject.line]


def test_list_users_pages_concatenated_pretty_and_compact() -> None:
    pretty = json.dumps(_page(["u1", "u2"], token="abc"), indent=4)
    compact = json.dumps(_page(["u3", "U1"]), separators=(",", ":"))
    for data in (pretty + "\n" + compact + "\n", pretty + compact):
        intake, names = _read(data.encode(), "users.json")
        assert names == ["u1", "u2", "u3"]
        assert (intake.case_merged, intake.rejected) == (1, 0)


def test_jq_users_array_and_json_lines_with_either_key() -> None:
    array = json.dumps(_page(["a", "b"])["Users"], indent=2)
    assert _read(array.encode(), "users.json")[1] == ["a", "b"]
    lines = '{"username": "a"}\n\n{"Username": "b", "email": "b@x"}\n{"user": "c"}\n'
    intake, names = _read(lines.encode(), "users.jsonl")
    assert names == ["a", "b"]
    assert _reasons(intake) == {4: "no 'Username' or 'username' field"}


def test_json_nested_100000_deep_is_one_reject_with_its_line() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    data = b'{"username": "a"}\n' + deep + b'\n{"username": "b"}\n' + b'{"a":' * 100_000 + b"\n"
    intake, names = _read(data, "deep.jsonl")
    assert names == ["a", "b"]
    assert _reasons(intake) == {
        2: "JSON nested deeper than 32 levels",
        4: "JSON nested deeper than 32 levels",
    }


def test_broken_json_line_resumes_at_the_next_line() -> None:
    data = b'{"username": "a"\n{"username": "b"}\n{"username": \n{"username": "c"}\n'
    intake, names = _read(data, "x.jsonl")
    assert names == ["b", "c"]
    assert sorted(_reasons(intake)) == [1, 3]
    assert all(r.startswith("not valid JSON") for r in _reasons(intake).values())


def test_excel_unicode_text_utf16_le_bom_tabs_crlf() -> None:
    text = "Username\tEmail\tName\r\nalice\ta@x\tAlice\r\nbob\tb@x\tBob\r\n\r\nzoë\tz@x\tZoë\r\n"
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    intake, names = _read(data, "users.txt")
    assert names == ["alice", "bob", "zoë"]
    assert _reasons(intake) == {4: "empty line"}


def test_utf16_be_with_bom_and_utf8_with_bom() -> None:
    text = "username\nalice\nbob\n"
    assert _read(codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "u.csv")[1] == ["alice", "bob"]
    assert _read(codecs.BOM_UTF8 + text.encode(), "u.csv")[1] == ["alice", "bob"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("username\nalice\n".encode("utf-16-le"), "looks like UTF-16 without a byte order mark"),
        (codecs.BOM_UTF32_LE + "alice\n".encode("utf-32-le"), "UTF-32"),
        ("alice\njosé\n".encode("cp1252"), "line 2 holds the byte 0xe9"),
        (codecs.BOM_UTF16_LE + b"a\x00\x00\xdc", "not valid UTF-16-LE"),
    ],
)
def test_other_encodings_are_refused_with_how_to_save(data: bytes, match: str) -> None:
    with pytest.raises(CampaignError, match=match) as caught:
        decode_input(data)
    assert "save it as UTF-8" in str(caught.value)


def test_one_nul_byte_rejects_only_its_line() -> None:
    data = b"alice\nbo\x00b\ncarol\n" + b"".join(b"user%07d\n" % n for n in range(500))
    intake, names = _read(data, "users.txt")
    assert names[:2] == ["alice", "carol"]
    assert len(names) == 502
    assert _reasons(intake) == {
        2: "control character NUL (U+0000) at column 3: lines end only at LF or CRLF and "
        "hold no other control characters"
    }
    csv = b"username,email\nalice,a@x\n\x00,b@x\ncarol,c@x\n"
    intake, names = _read(csv, "users.csv")
    assert (names, sorted(_reasons(intake))) == (["alice", "carol"], [3])


def test_a_csv_row_of_delimiters_is_named_as_such_not_as_an_empty_line() -> None:
    intake, names = _read(b"username,email\nalice,a@x\n,\n\n , \nbob,b@x\n", "users.csv")
    assert names == ["alice", "bob"]
    assert _reasons(intake) == {
        3: "no value in the 'username' column (only delimiters)",
        4: "empty line",
        5: "no value in the 'username' column (only delimiters)",
    }


def test_semicolon_csv_and_cognito_console_export() -> None:
    intake, names = _read(b"email;username;phone\na@x;alice;+1\nb@x;bob;+2\n", "users.csv")
    assert (names, intake.rejected) == (["alice", "bob"], 0)
    header = b"name,given_name,email,email_verified,cognito:mfa_enabled,cognito:username\n"
    rows = b"Al,Al,a@x,false,false,alice\nBo,Bo,b@x,false,false,bob\n"
    assert _read(header + rows, "export.csv")[1] == ["alice", "bob"]


def test_stray_quote_in_10000_rows_rejects_its_own_line() -> None:
    lines = ["username,email"] + [f"user{n:07d},u{n}@x" for n in range(10_000)]
    lines[4] = '"user0000003,u3@x'  # line 5 as an editor shows it
    lines[9000] = 'user0008999",u@x'
    intake, names = _read(("\n".join(lines) + "\n").encode(), "big.csv")
    assert len(names) == 9_998
    assert "user0000004" in names
    assert "user0009999" in names
    reasons = _reasons(intake)
    assert sorted(reasons) == [5, 9001]
    assert reasons[5] == 'stray quote (") at column 1: it is not closed'
    assert reasons[9001].startswith('stray quote (") at column 12')


def test_quoted_field_may_span_lines_and_misplaced_quote_is_named() -> None:
    data = b'username,address\nalice,"1 Main St\nSpringfield"\n"bo"b,x\ncarol,y\n'
    intake, names = _read(data, "u.csv")
    assert names == ["alice", "carol"]
    assert _reasons(intake)[4].startswith('stray quote (") at column 1: not valid CSV')


def test_control_characters_reject_their_line_and_keep_numbering() -> None:
    text = "alice\nbo\x0bb\ncarol\x0c\nd\x1ce\nf\x85g\nh\u2028i\nj\u2029k\nlone\rcr\nlast\r\n"
    intake, names = _read(text.encode(), "users.txt")
    assert names == ["alice", "last"]
    reasons = _reasons(intake)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert reasons[2].startswith("control character VT (U+000B, vertical tab) at column 3")
    assert "NEL (U+0085" in reasons[5]
    assert "LS (U+2028" in reasons[6]
    assert "CR (U+000D) without LF" in reasons[8]


def test_case_variants_merge_unless_case_sensitive() -> None:
    data = b"Alice\nalice\nALICE\nAlice\nbob\n"
    intake, names = _read(data, "u.txt")
    assert names == ["Alice", "bob"]
    assert (intake.case_merged, intake.duplicates) == (2, 1)
    intake, names = _read(data, "u.txt", case_sensitive=True)
    assert names == ["Alice", "alice", "ALICE", "bob"]
    assert (intake.case_merged, intake.duplicates) == (0, 1)


# --- the real CLI, in a subprocess -------------------------------------------------------


def _courier(redis_url: str, *args: str) -> tuple[int, dict[str, Any]]:
    env = {**os.environ, "COURIER_REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "campaign", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.stdout.count("\n") == 1, (done.stdout, done.stderr)
    return done.returncode, json.loads(done.stdout)


def test_cli_nothing_to_send_exits_2_and_creates_nothing(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "users.jsonl"
    bad.write_bytes(b"[" * 100_000 + b"\n" + b'{"user": "x"}\n' + b"al ice\n")
    for extra in ((), ("--dry-run",)):
        code, document = _courier(
            redis_url, "start", "--client-id", "abc123", "--file", str(bad), *extra
        )
        assert code == 2
        assert document["error"]["type"] == "NothingToSendError"
        assert document["total"] == 0
        assert document["rejected"] == 3
        assert [r["line"] for r in document["rejects"]] == [1, 2, 3]
        assert document["rejects"][0]["reason"] == "JSON nested deeper than 32 levels"
    assert redis_client.zcard(CAMPAIGN_INDEX_KEY) == 0
    assert not list(redis_client.scan_iter(match="courier:campaign:*"))


def test_cli_refuses_another_encoding_with_one_document(redis_url: str, tmp_path: Path) -> None:
    latin = tmp_path / "users.csv"
    latin.write_bytes("username\njosé\n".encode("latin-1"))
    code, document = _courier(redis_url, "start", "--client-id", "abc123", "--file", str(latin))
    assert code == 2
    assert "save it as UTF-8" in document["error"]["message"]


def test_cli_dry_run_reads_excel_unicode_text(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    text = "Username\tEmail\r\nalice\ta@x\r\nAlice\ta@x\r\nbob\tb@x\r\n"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    code, document = _courier(
        redis_url, "start", "--client-id", "abc123", "--file", str(path), "--dry-run"
    )
    assert code == 0, document
    assert (document["total"], document["case_merged"], document["rejected"]) == (2, 1, 0)
    assert document["case_sensitive"] is False
    assert any("letter case" in w for w in document["warnings"])


def test_pool_selection_with_nobody_is_refused_and_creates_nothing(
    celery_worker: Any, runtime: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "emulator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator")
    nobody = 'username ^= "nosuchprefix"'
    for dry_run in (False, True):
        with pytest.raises(NothingToSendError, match="has no user matching") as caught:
            start_campaign(
                CLIENT_ID, user_pool_id=POOL_ID, filter_expression=nobody, dry_run=dry_run
            )
        assert caught.value.document["total"] == 0
    assert runtime.redis.zcard(CAMPAIGN_INDEX_KEY) == 0
    # a selection with users starts at once with the first page stored
    some = 'username ^= "user000002"'  # user0000020 .. user0000029
    doc = start_campaign(CLIENT_ID, user_pool_id=POOL_ID, filter_expression=some)
    assert doc["total"] == 10
    assert runtime.redis.zcard(CAMPAIGN_INDEX_KEY) == 1
    # Followed to the end here: left running, the session worker would send these users
    # during the next test, which counts the emulator's deliveries.
    assert wait_for(campaign_status, doc["id"])["counts"]["succeeded"] == 10


def test_cli_list_users_file_end_to_end(
    celery_worker: Any, emulator: Any, redis_url: str, tmp_path: Path
) -> None:
    names = [f"user{n:07d}" for n in range(1, 121)]
    pages = [
        json.dumps(_page(names[:60], token="next"), indent=4),  # aws cli, pretty
        json.dumps(_page(names[60:]), separators=(",", ":")),  # a second page, compact
    ]
    path = tmp_path / "users.json"
    path.write_text("\n".join(pages) + "\n", encoding="utf-8")
    code, started = _courier(redis_url, "start", "--client-id", CLIENT_ID, "--file", str(path))
    assert code == 0, started
    assert (started["total"], started["rejected"]) == (120, 0)
    deadline = time.monotonic() + 60
    while True:
        code, status = _courier(redis_url, "status", started["id"])
        if status["state"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status["state"] == "done", status
    assert status["counts"]["succeeded"] == 120
    assert status["duration_seconds"] > 0
    assert sorted(d["username"] for d in emulator.deliveries()) == names
