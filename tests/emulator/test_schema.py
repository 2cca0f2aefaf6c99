"""The attribute schema: CreateUserPool's Schema stored, SchemaAttributes returned, writes
checked against it, bad definitions refused — through the real boto3 client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.cognito import error_of
from worker.contrib.emulator.pools import DEFAULT_PASSWORD as PASSWORD

SCHEMA = [
    {"Name": "email", "AttributeDataType": "String", "Required": True},
    {
        "Name": "plan",
        "AttributeDataType": "String",
        "StringAttributeConstraints": {"MaxLength": "8"},
    },
    {
        "Name": "seats",
        "AttributeDataType": "Number",
        "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "50"},
    },
    {"Name": "internal", "AttributeDataType": "String", "DeveloperOnlyAttribute": True},
]


def _pool(cognito: Any) -> tuple[str, str]:
    pool = cognito.create_user_pool(
        PoolName="s-" + uuid.uuid4().hex[:8], AutoVerifiedAttributes=["email"], Schema=SCHEMA
    )["UserPool"]
    client_id = cognito.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web")[
        "UserPoolClient"
    ]["ClientId"]
    return pool["Id"], client_id


def _attributes(**values: str) -> list[dict[str, str]]:
    return [{"Name": k.replace("__", ":"), "Value": v} for k, v in values.items()]


def test_schema_attributes_are_stored_and_returned(cognito: Any) -> None:
    pool_id, _ = _pool(cognito)
    attributes = {
        a["Name"]: a
        for a in cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["SchemaAttributes"]
    }
    assert attributes["sub"] == {
        "Name": "sub",
        "AttributeDataType": "String",
        "DeveloperOnlyAttribute": False,
        "Mutable": False,
        "Required": True,
        "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "2048"},
    }
    assert attributes["email"]["Required"] is True
    assert attributes["email"]["StringAttributeConstraints"] == {
        "MinLength": "0",
        "MaxLength": "2048",
    }
    assert attributes["custom:plan"]["StringAttributeConstraints"] == {"MaxLength": "8"}
    assert attributes["custom:seats"]["NumberAttributeConstraints"] == {
        "MinValue": "1",
        "MaxValue": "50",
    }
    assert "StringAttributeConstraints" not in attributes["custom:seats"]
    assert attributes["dev:custom:internal"]["DeveloperOnlyAttribute"] is True
    for standard in ("name", "phone_number", "email_verified", "updated_at", "birthdate"):
        assert standard in attributes
    plain = cognito.create_user_pool(PoolName="plain")["UserPool"]
    assert {a["Name"] for a in plain["SchemaAttributes"]} >= {"sub", "email", "phone_number"}
    assert not any(a["Name"].startswith("custom:") for a in plain["SchemaAttributes"])


def test_sign_up_refuses_undeclared_attributes_listing_each(cognito: Any) -> None:
    _, client_id = _pool(cognito)
    error = error_of(
        cognito.sign_up,
        ClientId=client_id,
        Username="ann",
        Password=PASSWORD,
        UserAttributes=_attributes(email="ann@example.com", thing="x", custom__nope="y"),
    )
    assert error.response["Error"] == {
        "Code": "InvalidParameterException",
        "Message": "Attributes did not conform to the schema: "
        "thing: Attribute does not exist in the schema.\n"
        "custom:nope: Attribute does not exist in the schema.\n",
    }
    created = cognito.sign_up(
        ClientId=client_id,
        Username="ann",
        Password=PASSWORD,
        UserAttributes=_attributes(email="ann@example.com", custom__plan="pro", custom__seats="5"),
    )
    assert created["UserConfirmed"] is False


def test_required_attributes_bind_sign_up_but_not_admin_create_user(cognito: Any) -> None:
    pool_id, client_id = _pool(cognito)
    error = error_of(
        cognito.sign_up, ClientId=client_id, Username="bo", Password=PASSWORD, UserAttributes=[]
    )
    assert error.response["Error"] == {
        "Code": "InvalidParameterException",
        "Message": "Attributes did not conform to the schema: email: the attribute is required\n",
    }
    cognito.admin_create_user(UserPoolId=pool_id, Username="bo")


def test_values_outside_the_declared_bounds_are_refused(cognito: Any) -> None:
    pool_id, _ = _pool(cognito)
    for values, problem in [
        ({"custom__plan": "enterprise"}, "custom:plan: String length must be between 0 and 8"),
        ({"custom__seats": "0"}, "custom:seats: Number must be between 1 and 50"),
        ({"custom__seats": "many"}, "custom:seats: Number must be an integer"),
        ({"email_verified": "yes"}, "email_verified: Boolean must be true or false"),
        ({"sub": "mine"}, "sub: Attribute does not exist in the schema."),
    ]:
        error = error_of(
            cognito.admin_create_user,
            UserPoolId=pool_id,
            Username="cy",
            UserAttributes=_attributes(**values),
        )
        assert error.response["Error"]["Code"] == "InvalidParameterException"
        assert error.response["Error"]["Message"] == (
            f"Attributes did not conform to the schema: {problem}\n"
        )
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username="cy",
        UserAttributes=_attributes(dev__custom__internal="ok", email_verified="true"),
    )


@pytest.mark.parametrize("name", ["dev:custom:internal", "email_verified"])
def test_sign_up_may_not_write_admin_only_attributes(cognito: Any, name: str) -> None:
    _, client_id = _pool(cognito)
    error = error_of(
        cognito.sign_up,
        ClientId=client_id,
        Username="di",
        Password=PASSWORD,
        UserAttributes=[
            {"Name": "email", "Value": "di@example.com"},
            {"Name": name, "Value": "true"},
        ],
    )
    assert error.response["Error"] == {
        "Code": "NotAuthorizedException",
        "Message": "A client attempted to write unauthorized attribute",
    }


def test_verification_code_for_an_undeclared_custom_attribute(
    cognito: Any, access_token: str
) -> None:
    error = error_of(
        cognito.get_user_attribute_verification_code,
        AccessToken=access_token,
        AttributeName="custom:nope",
    )
    assert error.response["Error"] == {
        "Code": "InvalidParameterException",
        "Message": "Invalid attribute name: custom:nope",
    }


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            [{"Name": "x", "AttributeDataType": "Banana"}],
            "Validation error detected: Value 'Banana' failed to satisfy constraint: Member "
            "must satisfy enum value set: [Boolean, Number, String, DateTime]",
        ),
        (
            [{"Name": "x"}],
            "Invalid AttributeDataType input, consider using the provided AttributeDataType enum.",
        ),
        (
            [{"Name": "x", "AttributeDataType": "String", "Required": True}],
            "Required custom attributes are not supported currently.",
        ),
        (
            [{"Name": "email", "AttributeDataType": "Number"}],
            "You can not change AttributeDataType or set developerOnlyAttribute for standard "
            "schema attribute email",
        ),
        (
            [{"Name": "email", "DeveloperOnlyAttribute": True}],
            "You can not change AttributeDataType or set developerOnlyAttribute for standard "
            "schema attribute email",
        ),
        (
            [
                {
                    "Name": "x",
                    "AttributeDataType": "String",
                    "StringAttributeConstraints": {"MinLength": "5", "MaxLength": "2"},
                }
            ],
            "user.custom:x: Max length cannot be less than min length.",
        ),
        (
            [
                {
                    "Name": "updated_at",
                    "AttributeDataType": "Number",
                    "NumberAttributeConstraints": {"MinValue": "9", "MaxValue": "1"},
                }
            ],
            "user.updated_at: Max value cannot be less than min value.",
        ),
        (
            [
                {
                    "Name": "email",
                    "AttributeDataType": "String",
                    "StringAttributeConstraints": {"MaxLength": "2049"},
                }
            ],
            "user.email: String attributes cannot have a length of more than 2048",
        ),
        (
            [
                {
                    "Name": "x",
                    "AttributeDataType": "Number",
                    "NumberAttributeConstraints": {"MinValue": "lots"},
                }
            ],
            "Invalid NumberAttributeConstraints for schema attribute x",
        ),
        (
            [{"Name": "phone_number_verified", "AttributeDataType": "Boolean"}],
            "1 validation error detected: Value 'phone_number_verified' at 'schema.1.member.name' "
            "failed to satisfy constraint: Member must have length less than or equal to 20",
        ),
        (
            [
                {"Name": "x", "AttributeDataType": "String"},
                {"Name": "x", "AttributeDataType": "Number"},
            ],
            "Duplicate schema attribute custom:x.",
        ),
    ],
)
def test_bad_schema_definitions_are_refused(
    cognito: Any, schema: list[dict[str, Any]], message: str
) -> None:
    error = error_of(cognito.create_user_pool, PoolName="bad", Schema=schema)
    assert error.response["Error"] == {"Code": "InvalidParameterException", "Message": message}
    # nothing was created
    assert all(p["Name"] != "bad" for p in cognito.list_user_pools(MaxResults=60)["UserPools"])
