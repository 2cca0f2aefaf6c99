"""The front's listener and the files the project writes.

- No redirect built from the request: an unknown path (``/jobs/abc/`` with ``Host:
  evil.example`` used to answer ``307 Location: http://evil.example/jobs/abc`` before the
  token check) is a 404, with or without a token. The one redirect, ``/ui`` to the fixed
  path ``/ui/`` (308), is tested in tests/ui/test_ui_redirect.py.
- ``Content-Length`` with ``Transfer-Encoding`` (RFC 9112 section 6.1) is refused with 400
  and the connection closed.
- Campaign reports are written 0600 through a temporary file and a rename: a symlink at
  the target is replaced, never followed.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import httpx

from tasks.campaigns import start_campaign, write_campaign_report
from tests.support.security import TOKENS, Stack


def test_no_redirect_and_404_for_unknown_paths_before_and_after_auth(stack: Stack) -> None:
    for headers in ({}, {"Authorization": f"Bearer {TOKENS['ops-console']}"}):
        for path in ("/jobs/abc/", "/campaigns/abc/", "/nope", "/jobs/", "/metrics/"):
            answer = httpx.get(
                stack.front.url + path,
                headers={**headers, "Host": "evil.example"},
                follow_redirects=False,
            )
            assert answer.status_code == 404, (path, headers, answer.status_code)
            assert "location" not in answer.headers
            assert answer.json()["__type"] == "NotFound"


def _raw_exchange(stack: Stack, request: bytes) -> tuple[bytes, bool]:
    """Send ``request``; returns what came back and whether the server closed the socket."""
    with socket.create_connection((stack.front.host, stack.front.port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        closed = False
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            received += chunk
        return received, closed


def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(
    stack: Stack,
) -> None:
    body = b'{"Action": "ResendConfirmationCode"}'
    smuggled = b"0\r\n\r\nGET /jobs/x HTTP/1.1\r\nHost: h\r\n\r\n"
    request = (
        b"POST / HTTP/1.1\r\nHost: front\r\n"
        + f"Authorization: Bearer {TOKENS['ops-console']}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + smuggled
    )
    received, closed = _raw_exchange(stack, request)
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert b"Content-Length and Transfer-Encoding" in received
    head, _, rest = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.startswith(b"content-length")
    )
    assert len(rest) == length  # one answer: the smuggled request was never answered
    assert closed


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_report_is_private_and_replaces_a_symlink_without_following_it(
    stack: Stack, tmp_path: Path
) -> None:
    campaign = start_campaign(stack.pool.client_id, data=b"ann\nbob\n", file_format="text")
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "report.csv"
    out.symlink_to(victim)
    old_umask = os.umask(0o022)  # the usual umask: a plain open() would make it 0644
    try:  # what `courier campaign report --out` calls (the CLI itself: test_secret_scan.py)
        rows = write_campaign_report(campaign["id"], out)
    finally:
        os.umask(old_umask)
    assert rows == 2  # two users
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert not out.is_symlink()
    assert _mode(out) == 0o600
    assert "username" in out.read_text(encoding="utf-8").splitlines()[0]
