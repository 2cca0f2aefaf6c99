"""User pools made in an emulator through ordinary boto3 calls, for tests, demo and benchmarks.

:func:`make_pool` (also :meth:`EmulatorHandle.make_pool
<worker.contrib.emulator.handle.EmulatorHandle.make_pool>`) creates a pool with a public app
client and, unless told otherwise, a second client with a secret; the :class:`UserPool` it
returns signs users up, confirms them, adds app clients and signs in for an AccessToken, all
with the calls an application makes against real Cognito (CreateUserPool,
CreateUserPoolClient, SignUp, AdminConfirmSignUp, InitiateAuth; source: botocore's
cognito-idp 2016-04-18 model). Nothing here reaches into the emulator's state, so a pool made
this way behaves as one made in the AWS console would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worker.cognito import compute_secret_hash

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = ["DEFAULT_PASSWORD", "UserPool", "make_pool"]

DEFAULT_PASSWORD = "Correct-Horse-9"  # noqa: S105 - a made-up user's password in the emulator
"""The password :meth:`UserPool.add_user` signs users up with unless the pool says otherwise."""


@dataclass(frozen=True)
class UserPool:
    """One user pool and its app clients, and the boto3 client that made them.

    Attributes:
        cognito: the boto3 cognito-idp client on the emulator (its Region is the pool's).
        pool_id: the pool's id, ``<region>_<suffix>``.
        client_id: the public app client (no secret; USER_PASSWORD_AUTH allowed).
        secret_client_id: an app client with a secret.
        client_secret: that client's secret.
        password: every user's password (at least 8 characters, mixed case and a digit).
    """

    cognito: CognitoIdentityProviderClient
    pool_id: str
    client_id: str
    secret_client_id: str
    client_secret: str
    password: str = DEFAULT_PASSWORD

    def add_client(self, name: str) -> str:
        """Create another public app client named ``name``; returns its client id."""
        return _add_client(self.cognito, self.pool_id, name)[0]

    def add_user(
        self,
        username: str,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        confirmed: bool = False,
        client_id: str | None = None,
    ) -> str:
        """Sign ``username`` up (UNCONFIRMED) through ``client_id`` (default: the public client).

        ``email`` defaults to ``<username>@example.com``; ``phone_number`` (E.164) is set
        when given; ``confirmed`` confirms the user afterwards (AdminConfirmSignUp).
        Returns the username. Raises botocore's ``ClientError`` with Cognito's error code
        (e.g. ``UsernameExistsException``).
        """
        attributes = [{"Name": "email", "Value": email or f"{username}@example.com"}]
        if phone_number:
            attributes.append({"Name": "phone_number", "Value": phone_number})
        self.cognito.sign_up(
            ClientId=client_id or self.client_id,
            Username=username,
            Password=self.password,
            UserAttributes=attributes,  # type: ignore[arg-type] # dicts of the model's shape
        )
        if confirmed:
            self.cognito.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=username)
        return username

    def add_users(self, usernames: Iterable[str], **options: Any) -> list[str]:
        """:meth:`add_user` for each of ``usernames`` with the same ``options``; returns them."""
        return [self.add_user(username, **options) for username in usernames]

    def access_token(self, username: str, *, client_id: str | None = None) -> str:
        """A confirmed user's AccessToken: InitiateAuth USER_PASSWORD_AUTH via ``client_id``."""
        result = self.cognito.initiate_auth(
            ClientId=client_id or self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": self.password},
        )
        return result["AuthenticationResult"]["AccessToken"]

    def secret_hash(self, username: str) -> str:
        """The SecretHash the secret client sends for ``username`` (see the module's source)."""
        return compute_secret_hash(self.secret_client_id, username, self.client_secret)


def make_pool(
    cognito: CognitoIdentityProviderClient,
    name: str = "courier",
    *,
    case_sensitive: bool | None = None,
    auto_verified: Sequence[str] = ("email",),
    schema: Sequence[Mapping[str, Any]] = (),
    password: str = DEFAULT_PASSWORD,
) -> UserPool:
    """Create the pool ``name`` with a public app client ``web`` and a secret one ``backend``.

    ``case_sensitive`` sets the pool's UsernameConfiguration (None: Cognito's own default,
    case-sensitive);
    ``auto_verified`` lists the AutoVerifiedAttributes (``email``, ``phone_number``);
    ``schema`` adds custom attributes (SchemaAttributeType documents, e.g.
    ``{"Name": "plan", "AttributeDataType": "String"}``).
    Raises botocore's ``ClientError`` when the emulator refuses a call.
    """
    options: dict[str, Any] = {"PoolName": name, "AutoVerifiedAttributes": list(auto_verified)}
    if case_sensitive is not None:
        options["UsernameConfiguration"] = {"CaseSensitive": case_sensitive}
    if schema:
        options["Schema"] = [dict(attribute) for attribute in schema]
    pool_id = cognito.create_user_pool(**options)["UserPool"]["Id"]
    public, _ = _add_client(cognito, pool_id, "web")
    secret_id, secret = _add_client(cognito, pool_id, "backend", secret=True)
    return UserPool(cognito, pool_id, public, secret_id, secret, password)


def _add_client(
    cognito: CognitoIdentityProviderClient, pool_id: str, name: str, *, secret: bool = False
) -> tuple[str, str]:
    """CreateUserPoolClient with USER_PASSWORD_AUTH allowed; ``(client id, secret or "")``."""
    made = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=name,
        GenerateSecret=secret,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    return made["ClientId"], made.get("ClientSecret", "")
