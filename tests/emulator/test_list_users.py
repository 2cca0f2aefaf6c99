"""ListUsers: filters as AWS documents them, Limit, pagination, synthetic pools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator.pools import UserPool

SYNTHETIC = "us-east-1_Synthetic1"


@pytest.fixture
def people(cognito: Any, pool: UserPool, sign_up: Callable[..., str]) -> UserPool:
    sign_up("anna", email="anna@alpha.org", phone="+15550001111")
    sign_up("andy", email="andy@beta.org")
    sign_up("bob", email="bob@alpha.org")
    cognito.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username="bob")
    return pool


def _names(cognito: Any, pool_id: str, filter_text: str) -> list[str]:
    users = cognito.list_users(UserPoolId=pool_id, Filter=filter_text)["Users"]
    return sorted(u["Username"] for u in users)


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('username = "anna"', ["anna"]),
        ('username ^= "an"', ["andy", "anna"]),
        ('email = "bob@alpha.org"', ["bob"]),
        ('email ^= "an"', ["andy", "anna"]),
        ('phone_number = "+15550001111"', ["anna"]),
        ('phone_number ^= "+1555"', ["anna"]),
        ('cognito:user_status = "UNCONFIRMED"', ["andy", "anna"]),
        ('cognito:user_status = "confirmed"', ["bob"]),
        ('cognito:user_status="Confirmed"', ["bob"]),
        ("", ["andy", "anna", "bob"]),
        # searches are case-insensitive except where the API reference notes otherwise
        ('email = "BOB@Alpha.ORG"', ["bob"]),
        ('email ^= "AN"', ["andy", "anna"]),
        ('username = "ANNA"', []),  # username: case-sensitive
        ('username ^= "AN"', []),
        ('status = "enabled"', []),  # status: case-sensitive
        ('status = "Enabled"', ["andy", "anna", "bob"]),
    ],
)
def test_filters(cognito: Any, people: UserPool, filter_text: str, expected: list[str]) -> None:
    assert _names(cognito, people.pool_id, filter_text) == expected


def test_synthetic_users_match_without_regard_to_case(cognito: Any) -> None:
    users = cognito.list_users(UserPoolId=SYNTHETIC, Filter='email = "USER0000042@EXAMPLE.COM"')
    assert [u["Username"] for u in users["Users"]] == ["user0000042"]


def test_users_carry_attributes_and_status(cognito: Any, people: UserPool) -> None:
    (user,) = cognito.list_users(UserPoolId=people.pool_id, Filter='username = "bob"')["Users"]
    attributes = {a["Name"]: a["Value"] for a in user["Attributes"]}
    assert attributes["email"] == "bob@alpha.org"
    assert attributes["sub"]
    assert user["UserStatus"] == "CONFIRMED"
    assert user["Enabled"] is True


@pytest.mark.parametrize("bad", ["email = bob", 'shoe_size = "9"', 'username == "x"'])
def test_unparseable_filter(cognito: Any, people: UserPool, bad: str) -> None:
    assert code_of(cognito.list_users, UserPoolId=people.pool_id, Filter=bad) == (
        "InvalidParameterException"
    )


def test_limit_above_60_is_invalid(cognito: Any, people: UserPool) -> None:
    error = error_of(cognito.list_users, UserPoolId=people.pool_id, Limit=61)
    assert error.response["Error"]["Code"] == "InvalidParameterException"
    assert "less than or equal to 60" in error.response["Error"]["Message"]


def test_unknown_pool(cognito: Any) -> None:
    assert code_of(cognito.list_users, UserPoolId="us-east-1_Missing") == (
        "ResourceNotFoundException"
    )


def test_pagination_through_a_synthetic_pool(cognito: Any) -> None:
    paginator = cognito.get_paginator("list_users")
    pages = list(
        paginator.paginate(
            UserPoolId=SYNTHETIC,
            Filter='cognito:user_status = "UNCONFIRMED"',
            PaginationConfig={"PageSize": 60},
        )
    )
    names = [u["Username"] for page in pages for u in page["Users"]]
    assert len(names) == 1000
    assert len(set(names)) == 1000
    assert names[0] == "user0000001"
    assert names[-1] == "user0001000"
    assert all(len(page["Users"]) <= 60 for page in pages)
    assert "PaginationToken" not in pages[-1]


def test_changed_synthetic_users_leave_the_unconfirmed_listing(cognito: Any) -> None:
    cognito.admin_confirm_sign_up(UserPoolId=SYNTHETIC, Username="user0000002")
    first = cognito.list_users(
        UserPoolId=SYNTHETIC, Limit=3, Filter='cognito:user_status = "UNCONFIRMED"'
    )
    assert [u["Username"] for u in first["Users"]] == [
        "user0000001",
        "user0000003",
        "user0000004",
    ]
    second = cognito.list_users(
        UserPoolId=SYNTHETIC,
        Limit=2,
        Filter='cognito:user_status = "UNCONFIRMED"',
        PaginationToken=first["PaginationToken"],
    )
    assert [u["Username"] for u in second["Users"]] == ["user0000005", "user0000006"]
    confirmed = cognito.list_users(UserPoolId=SYNTHETIC, Filter='cognito:user_status = "CONFIRMED"')
    assert [u["Username"] for u in confirmed["Users"]] == ["user0000002"]


def test_bad_pagination_token(cognito: Any) -> None:
    assert code_of(cognito.list_users, UserPoolId=SYNTHETIC, PaginationToken="garbage!") == (
        "InvalidParameterException"
    )
