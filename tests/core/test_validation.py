"""Input checks at the door: each names the field, none lets a bad value through."""

from __future__ import annotations

from typing import Any

import pytest

from worker.errors import InvalidRequestError
from worker.validation import (
    check_access_token,
    check_attribute_name,
    check_client_id,
    check_client_metadata,
    check_secret_hash,
    check_username,
)


@pytest.mark.parametrize(
    ("check", "value", "field"),
    [
        (check_client_id, "", "ClientId"),
        (check_client_id, "a" * 129, "ClientId"),
        (check_client_id, "bad-id", "ClientId"),
        (check_client_id, 42, "ClientId"),
        (check_username, "", "Username"),
        (check_username, "u" * 129, "Username"),
        (check_username, "has space", "Username"),
        (check_username, "tab\tname", "Username"),
        (check_secret_hash, "not base64!", "SecretHash"),
        (check_access_token, "", "AccessToken"),
        (check_access_token, "a b", "AccessToken"),
        (check_attribute_name, "", "AttributeName"),
        (check_attribute_name, "x" * 33, "AttributeName"),
        (check_client_metadata, ["a"], "ClientMetadata"),
        (check_client_metadata, {"a": 1}, "ClientMetadata"),
    ],
)
def test_bad_values_name_their_field(check: Any, value: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check(value)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_client_id, "3n4b5urk1ft4fl3mg5e62d9ado"),
        (check_username, "alice@example.com"),
        (check_username, "Zoë_+1"),
        (check_username, "u" * 128),
        (check_secret_hash, "dGVzdA+/="),
        (check_access_token, "eyJh.eyJz.c2ln-_="),
        (check_attribute_name, "email"),
        (check_attribute_name, "custom:favourite colour"[:32]),
    ],
)
def test_good_values_pass(check: Any, value: Any) -> None:
    assert check(value) == value


def test_access_token_error_never_echoes_the_token() -> None:
    token = "secret token with spaces"
    with pytest.raises(InvalidRequestError) as caught:
        check_access_token(token)
    assert token not in str(caught.value)


def test_metadata_passes_through() -> None:
    assert check_client_metadata(None) is None
    assert check_client_metadata({"campaign": "spring"}) == {"campaign": "spring"}
