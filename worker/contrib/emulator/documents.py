"""How DescribeUserPool and DescribeUserPoolClient show a pool and an app client.

Settings the emulator does not act on are stored as given at creation and echoed, so a
tool that creates a pool and reads it back (Terraform, CDK, a preflight check) sees what
it set: :data:`POOL_ECHOED` and :data:`CLIENT_ECHOED` name them. Defaults shown when a
setting was not given follow the API reference (UserPoolType, UserPoolClientType) and
moto's ``DEFAULT_USER_POOL_CONFIG``:

* ``LambdaConfig`` ``{}``; ``MfaConfiguration`` ``OFF``; ``DeletionProtection`` ``INACTIVE``;
  ``AccountRecoverySetting`` absent ("AWS does not apply an AccountRecoverySetting when
  the user pool was created without one", moto's note);
* ``VerificationMessageTemplate`` ``{"DefaultEmailOption": "CONFIRM_WITH_CODE"}``; the
  template and the older ``EmailVerificationMessage``, ``EmailVerificationSubject``,
  ``SmsVerificationMessage`` members mirror each other, as Cognito keeps them (moto's
  ``test_create_user_pool__overwrite_template_messages``);
* app client: ``RefreshTokenValidity`` 30 (days), ``AuthSessionValidity`` 3 (minutes),
  ``EnableTokenRevocation`` true, ``AllowedOAuthFlowsUserPoolClient`` false (API
  reference, CreateUserPoolClient).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.schema import schema_document

if TYPE_CHECKING:
    from worker.contrib.emulator.state import AppClient, Pool

__all__ = [
    "CLIENT_ECHOED",
    "POOL_ECHOED",
    "client_document",
    "echoed",
    "pool_document",
    "pool_summary",
]

POOL_ECHOED = (
    "LambdaConfig",
    "AccountRecoverySetting",
    "VerificationMessageTemplate",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "SmsVerificationMessage",
    "SmsAuthenticationMessage",
    "AdminCreateUserConfig",
    "AliasAttributes",
    "MfaConfiguration",
    "DeletionProtection",
    "DeviceConfiguration",
    "SmsConfiguration",
    "UserAttributeUpdateSettings",
    "UserPoolAddOns",
    "UserPoolTags",
    "UserPoolTier",
    "EmailConfiguration",
)
CLIENT_ECHOED = (
    "CallbackURLs",
    "LogoutURLs",
    "DefaultRedirectURI",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "SupportedIdentityProviders",
    "ReadAttributes",
    "WriteAttributes",
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
    "AnalyticsConfiguration",
)
_TEMPLATE_MIRRORS = (
    ("EmailMessage", "EmailVerificationMessage"),
    ("EmailSubject", "EmailVerificationSubject"),
    ("SmsMessage", "SmsVerificationMessage"),
)


def echoed(params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The members of ``params`` among ``names``, as given (None values dropped)."""
    return {name: params[name] for name in names if params.get(name) is not None}


def _verification(settings: dict[str, Any]) -> dict[str, Any]:
    template = {"DefaultEmailOption": "CONFIRM_WITH_CODE"}
    template.update(settings.get("VerificationMessageTemplate") or {})
    shown: dict[str, Any] = {}
    for in_template, legacy in _TEMPLATE_MIRRORS:
        value = settings.get(legacy, template.get(in_template))
        if value is not None:
            template.setdefault(in_template, value)
            shown[legacy] = value
    return {"VerificationMessageTemplate": template, **shown}


def pool_document(pool: Pool) -> dict[str, Any]:
    """A pool as DescribeUserPool shows it.

    ``UsernameConfiguration`` and ``UsernameAttributes`` appear only when the pool was
    created with them (they are optional in UserPoolType).
    """
    settings = pool.settings
    email = {"EmailSendingAccount": pool.email_sending_account}
    email.update(settings.get("EmailConfiguration") or {})
    admin_create = {"AllowAdminCreateUserOnly": False, "UnusedAccountValidityDays": 7}
    admin_create.update(settings.get("AdminCreateUserConfig") or {})
    doc: dict[str, Any] = {
        "Id": pool.id,
        "Name": pool.name,
        "Arn": pool.arn,
        "Policies": {"PasswordPolicy": dict(pool.password_policy)},
        "DeletionProtection": "INACTIVE",
        "LambdaConfig": {},
        "CreationDate": pool.created,
        "LastModifiedDate": pool.created,
        "SchemaAttributes": schema_document(pool.schema),
        "AutoVerifiedAttributes": list(pool.auto_verified_attributes),
        "MfaConfiguration": "OFF",
        "EstimatedNumberOfUsers": pool.estimated_users,
        "UserPoolTier": "ESSENTIALS",
        **{k: v for k, v in settings.items() if k not in _MERGED},
        **_verification(settings),
        "EmailConfiguration": email,
        "AdminCreateUserConfig": admin_create,
    }
    if pool.case_sensitive_setting is not None:
        doc["UsernameConfiguration"] = {"CaseSensitive": pool.case_sensitive_setting}
    if pool.username_attributes:
        doc["UsernameAttributes"] = list(pool.username_attributes)
    return doc


_MERGED = frozenset(
    {
        "EmailConfiguration",
        "AdminCreateUserConfig",
        "VerificationMessageTemplate",
        *(legacy for _, legacy in _TEMPLATE_MIRRORS),
    }
)


def pool_summary(pool: Pool) -> dict[str, Any]:
    """A pool as ListUserPools shows it."""
    return {
        "Id": pool.id,
        "Name": pool.name,
        "LambdaConfig": pool.settings.get("LambdaConfig", {}),
        "CreationDate": pool.created,
        "LastModifiedDate": pool.created,
    }


def client_document(client: AppClient) -> dict[str, Any]:
    """An app client as DescribeUserPoolClient shows it (secret included)."""
    doc: dict[str, Any] = {
        "UserPoolId": client.pool_id,
        "ClientName": client.name,
        "ClientId": client.id,
        "CreationDate": client.created,
        "LastModifiedDate": client.created,
        "ExplicitAuthFlows": list(client.explicit_auth_flows),
        "PreventUserExistenceErrors": client.prevent_user_existence_errors,
        "RefreshTokenValidity": 30,
        "AuthSessionValidity": 3,
        "EnableTokenRevocation": True,
        "AllowedOAuthFlowsUserPoolClient": False,
        **client.settings,
    }
    if client.secret is not None:
        doc["ClientSecret"] = client.secret
    return doc
