"""COURIER_API_TOKENS_FILE: named, scoped principals stored as SHA-256; clear refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from worker.errors import ConfigurationError
from worker.identity.principals import Principals, read_api_tokens_file
from worker.settings import load_settings


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_tokens_are_found_by_their_sha256_with_their_scopes(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "signup": {"sha256": _digest("s3cr3t"), "clients": ["abc123"], "scopes": ["resend"]},
            "ops": {"sha256": _digest("0ps").upper(), "clients": "*", "scopes": ["read-all"]},
        },
    )
    principals = Principals.from_sources(tokens=["full"], tokens_file=path)
    signup = principals.find("s3cr3t")
    assert signup is not None
    assert signup.name == "signup"
    assert signup.missing_scope("resend") is None
    assert "'campaigns'" in (signup.missing_scope("campaigns") or "")
    assert signup.missing_client("abc123") is None
    assert "'other'" in (signup.missing_client("other") or "")
    assert not signup.may_read("ops")
    assert signup.may_read("signup")
    ops = principals.find("0ps")
    assert ops is not None
    assert ops.may_read("signup")
    assert ops.missing_client("anything") is None
    full = principals.find("full")
    assert full is not None
    assert full.name == "api-token-1"
    assert principals.find("nope") is None
    assert "s3cr3t" not in repr(signup)
    assert _digest("s3cr3t") not in repr(signup)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ([], "non-empty JSON object"),
        ({}, "non-empty JSON object"),
        ({"a b": {}}, "a name is 1-64"),
        ({"x": "token"}, "must be an object"),
        ({"x": {"sha256": "plain-token", "clients": "*", "scopes": ["resend"]}}, "64 hex"),
        ({"x": {"sha256": "a" * 64, "clients": [], "scopes": ["resend"]}}, "clients must be"),
        ({"x": {"sha256": "a" * 64, "clients": ["bad id!"], "scopes": ["resend"]}}, "clients:"),
        ({"x": {"sha256": "a" * 64, "clients": "*", "scopes": ["admin"]}}, "scopes: each"),
        ({"x": {"sha256": "a" * 64, "clients": "*", "scopes": []}}, "scopes must be"),
        ({"x": {"sha256": "a" * 64, "clients": "*", "scopes": ["resend"], "token": "t"}}, "token"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_entry(
    tmp_path: Path, document: Any, fragment: str
) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(ValueError, match=fragment) as caught:
        read_api_tokens_file(path)
    assert str(path) in str(caught.value)
    assert "plain-token" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="COURIER_API_TOKENS_FILE"):
        load_settings(api_tokens_file=path)


def test_two_principals_with_one_token_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"a": {"sha256": _digest("same"), "clients": "*", "scopes": ["resend"]}},
    )
    with pytest.raises(ValueError, match="same token"):
        Principals.from_sources(tokens=["same"], tokens_file=path)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:Sekr3t/PW@127.0.0.1:9229",
        "http://127.0.0.1:Sekr3t#PW",
        "http://:Sekr3t?PW@127.0.0.1:9229/",
        "https://Sekr3t:@host",
    ],
)
def test_an_endpoint_url_error_holds_nothing_of_the_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="COURIER_COGNITO_ENDPOINT_URL") as caught:
        load_settings(cognito_endpoint_url=url)
    assert "Sekr3t" not in str(caught.value)
    assert "PW" not in str(caught.value)
