"""Fidelity nits: which codes stay redeemable (reset, AdminConfirmSignUp, AdminDeleteUser),
ConfirmSignUp for users that are not UNCONFIRMED, immutable attributes on update, and the
hourly cap spent by the codes an update sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator import EmulatorConfig, EmulatorHandle
from worker.contrib.emulator.codebook import SIGNUP
from worker.contrib.emulator.core import OPERATIONS, Emulator
from worker.contrib.emulator.errors import ATTEMPT_LIMIT_MESSAGE, ServiceError
from worker.contrib.emulator.pools import UserPool, make_pool

_NOT_CONFIRMABLE = "User cannot be confirmed. Current status is {}"


def _code(emulator: EmulatorHandle, username: str) -> str:
    code: str = emulator.deliveries(username)[-1]["code"]
    return code


def _attributes(document: Any) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in document["UserAttributes"]}


def _refusal(call: Callable[..., Any], **kwargs: Any) -> dict[str, str]:
    """The ``{"Code", "Message"}`` of the error ``call(**kwargs)`` answers."""
    error = error_of(call, **kwargs).response["Error"]
    return {"Code": str(error["Code"]), "Message": str(error["Message"])}


def _call(emu: Emulator, operation: str, **params: Any) -> dict[str, Any]:
    """Run ``operation``'s handler on an emulator run made in this process (no HTTP)."""
    return OPERATIONS[operation].handler(emu, params)


def test_a_plain_reset_forgets_outstanding_codes(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("abe")
    code = _code(emulator, "abe")
    emulator.reset()
    confirm = pool.cognito.confirm_sign_up
    assert code_of(confirm, ClientId=pool.client_id, Username="abe", ConfirmationCode=code) == (
        "CodeMismatchException"
    )
    user = pool.cognito.admin_get_user(UserPoolId=pool.pool_id, Username="abe")
    assert user["UserStatus"] == "UNCONFIRMED"


def test_admin_confirm_sign_up_forgets_the_sign_up_code() -> None:
    # the forgetting is not observable over HTTP (a CONFIRMED user never redeems a
    # sign-up code), so the run's own code book is read
    emu = Emulator(EmulatorConfig())
    pool_id = _call(emu, "CreateUserPool", PoolName="p", AutoVerifiedAttributes=["email"])[
        "UserPool"
    ]["Id"]
    client = _call(emu, "CreateUserPoolClient", UserPoolId=pool_id, ClientName="web")
    client_id = client["UserPoolClient"]["ClientId"]
    _call(
        emu,
        "SignUp",
        ClientId=client_id,
        Username="bea",
        Password="Correct-Horse-9",
        UserAttributes=[{"Name": "email", "Value": "bea@example.com"}],
    )
    assert (pool_id, "bea", SIGNUP) in emu.codebook
    code = emu.recorder.deliveries[-1]["code"]
    _call(emu, "AdminConfirmSignUp", UserPoolId=pool_id, Username="bea")
    assert (pool_id, "bea", SIGNUP) not in emu.codebook
    with pytest.raises(ServiceError) as refused:
        _call(emu, "ConfirmSignUp", ClientId=client_id, Username="bea", ConfirmationCode=code)
    assert (refused.value.code, refused.value.message) == (
        "NotAuthorizedException",
        _NOT_CONFIRMABLE.format("CONFIRMED"),
    )


def test_confirm_sign_up_refuses_users_that_are_not_unconfirmed(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    cognito = pool.cognito
    cognito.admin_create_user(UserPoolId=pool.pool_id, Username="cy", MessageAction="SUPPRESS")
    refused = {
        "Code": "NotAuthorizedException",
        "Message": _NOT_CONFIRMABLE.format("FORCE_CHANGE_PASSWORD"),
    }
    confirm = cognito.confirm_sign_up
    assert _refusal(confirm, ClientId=pool.client_id, Username="cy", ConfirmationCode="123456") == (
        refused
    )
    # a signed-up user with its code outstanding, moved to FORCE_CHANGE_PASSWORD: the
    # right code does not confirm it
    sign_up("dee")
    code = _code(emulator, "dee")
    cognito.admin_set_user_password(
        UserPoolId=pool.pool_id, Username="dee", Password=pool.password, Permanent=False
    )
    assert _refusal(confirm, ClientId=pool.client_id, Username="dee", ConfirmationCode=code) == (
        refused
    )
    user = cognito.admin_get_user(UserPoolId=pool.pool_id, Username="dee")
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"


def test_a_new_user_of_a_deleted_users_name_does_not_redeem_its_codes(
    emulator: EmulatorHandle, pool: UserPool
) -> None:
    cognito = pool.cognito
    pool.add_user("ned", confirmed=True)
    token = pool.access_token("ned")
    cognito.get_user_attribute_verification_code(AccessToken=token, AttributeName="email")
    old_code = _code(emulator, "ned")
    cognito.admin_delete_user(UserPoolId=pool.pool_id, Username="ned")
    pool.add_user("ned", confirmed=True)
    token = pool.access_token("ned")
    verify = cognito.verify_user_attribute
    assert code_of(verify, AccessToken=token, AttributeName="email", Code=old_code) == (
        "CodeMismatchException"
    )
    assert _attributes(cognito.get_user(AccessToken=token)).get("email_verified") != "true"


def test_updates_refuse_immutable_attributes_and_sub(cognito: Any) -> None:
    pool = make_pool(
        cognito,
        "immutable",
        schema=[{"Name": "badge", "AttributeDataType": "String", "Mutable": False}],
    )
    ids = {"UserPoolId": pool.pool_id, "Username": "eli"}
    cognito.admin_create_user(
        **ids,
        UserAttributes=[
            {"Name": "email", "Value": "eli@example.com"},
            {"Name": "custom:badge", "Value": "gold"},
        ],
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(**ids, Password=pool.password, Permanent=True)
    token = pool.access_token("eli")
    before = _attributes(cognito.admin_get_user(**ids))

    def immutable(name: str) -> dict[str, str]:
        return {
            "Code": "InvalidParameterException",
            "Message": f"Cannot modify the non-mutable attribute {name}",
        }

    badge = [{"Name": "name", "Value": "Eli"}, {"Name": "custom:badge", "Value": "silver"}]
    assert _refusal(cognito.admin_update_user_attributes, **ids, UserAttributes=badge) == (
        immutable("custom:badge")
    )
    for value in ("gold", "silver"):  # the same value is refused too
        same = [{"Name": "custom:badge", "Value": value}]
        assert _refusal(cognito.update_user_attributes, AccessToken=token, UserAttributes=same) == (
            immutable("custom:badge")
        )
    sub = [
        {"Name": "email", "Value": "eli2@example.com"},
        {"Name": "sub", "Value": "00000000-0000-4000-a000-000000000000"},
    ]
    assert _refusal(cognito.update_user_attributes, AccessToken=token, UserAttributes=sub) == (
        immutable("sub")
    )
    assert _attributes(cognito.admin_get_user(**ids)) == before  # nothing changed
    cognito.admin_update_user_attributes(**ids, UserAttributes=[{"Name": "name", "Value": "Eli"}])
    assert _attributes(cognito.admin_get_user(**ids))["name"] == "Eli"


def test_codes_sent_by_updates_count_against_the_users_verification_cap(
    emulator: EmulatorHandle, pool: UserPool, access_token: str
) -> None:
    cognito = pool.cognito
    for n in range(5):
        answer = cognito.update_user_attributes(
            AccessToken=access_token,
            UserAttributes=[{"Name": "email", "Value": f"carol{n}@example.org"}],
        )
        assert len(answer["CodeDeliveryDetailsList"]) == 1
    # the sixth change in the hour is made, but no code goes out
    answer = cognito.update_user_attributes(
        AccessToken=access_token, UserAttributes=[{"Name": "email", "Value": "c6@example.org"}]
    )
    assert answer["CodeDeliveryDetailsList"] == []
    me = _attributes(cognito.get_user(AccessToken=access_token))
    assert (me["email"], me["email_verified"]) == ("c6@example.org", "false")
    sent = [d for d in emulator.deliveries("carol") if d["operation"] == "UpdateUserAttributes"]
    assert len(sent) == 5
    verify = cognito.get_user_attribute_verification_code
    assert _refusal(verify, AccessToken=access_token, AttributeName="email") == {
        "Code": "LimitExceededException",
        "Message": ATTEMPT_LIMIT_MESSAGE,
    }


def test_an_admin_update_spends_the_same_count(emulator: EmulatorHandle, pool: UserPool) -> None:
    cognito = pool.cognito
    pool.add_user("fay", confirmed=True)
    token = pool.access_token("fay")
    for _ in range(4):
        cognito.get_user_attribute_verification_code(AccessToken=token, AttributeName="email")
    cognito.admin_update_user_attributes(
        UserPoolId=pool.pool_id,
        Username="fay",
        UserAttributes=[{"Name": "email", "Value": "fay2@example.com"}],
    )
    assert emulator.deliveries("fay")[-1]["operation"] == "AdminUpdateUserAttributes"
    assert code_of(
        cognito.get_user_attribute_verification_code, AccessToken=token, AttributeName="email"
    ) == ("LimitExceededException")
