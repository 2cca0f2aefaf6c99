"""Whom the per-user guard counts a call against: Cognito's user, as closely as we can name it.

Cognito caps each user at 5 calls per operation per rolling hour (DESIGN.md; the cap is
counted per user *in the pool*, whichever app client the call came through: public
report aws-amplify/amplify-js#8013). The guard (:mod:`worker.guard`) hashes the keys
built here before they reach Redis.

Keys:

- ResendConfirmationCode: ``"pool:<user pool id>|<username>"`` when the registry
  (:mod:`worker.identity.clients`) knows the client's pool, else
  ``"client:<client id>|<username>"``; the username is case-folded unless the client is
  declared ``case_sensitive``.
- GetUserAttributeVerificationCode: ``"<token iss>|<token username>"`` (the issuer URL
  ends with the pool id), read from the token only after :func:`token_identity` verified
  it (:mod:`worker.identity.tokens`): a forged token is refused and counts against nobody.

Where the key is coarser (over-counts: safe, a call may be skipped that Cognito would
have allowed) or finer (under-counts: Cognito may answer LimitExceededException, which the
worker records as a permanent ``failed``) than Cognito's count:

=====================================================  =========  ============================
case                                                   key is     consequence
=====================================================  =========  ============================
client's pool unknown (only in COURIER_CLIENT_SECRETS  finer      two clients of one pool
or unlisted)                                                      count apart: list the pool
                                                                  in COURIER_CLIENTS
case-sensitive pool not declared ``case_sensitive``    coarser    ``bob``/``Bob`` share 5
pool declared ``case_sensitive`` but is not            finer      ``bob``/``Bob`` count apart
``casefold`` folds more than Cognito (``ß`` -> ``ss``) coarser    such names share a count
user addressed by an alias (e-mail, phone) or sub in   finer      each spelling counts apart
ResendConfirmationCode's Username
same user through both operations                      finer      as Cognito: per operation
verify: token without ``username`` (``sub`` used)      finer      only for odd tokens
=====================================================  =========  ============================
"""

from __future__ import annotations

from tenacity import Retrying

from worker.identity.clients import ClientInfo
from worker.identity.tokens import TokenVerifier, VerifiedToken

__all__ = ["resend_user_key", "token_identity"]


def resend_user_key(client: ClientInfo, username: str) -> str:
    """The key of ``username`` for ResendConfirmationCode through ``client`` (see the module).

    ``"pool:us-east-1_AbC|alice"`` for ``Alice`` through any client of that pool;
    ``"client:<id>|alice"`` when the client's pool is unknown.
    """
    return f"{client.counting_scope}|{client.fold(username)}"


def token_identity(
    verifier: TokenVerifier, token: str, *, patience: Retrying | None = None
) -> VerifiedToken:
    """The one place an AccessToken is read: its claims, verified. Producers call it at the
    door, :func:`worker.delivery.deliver` once per job, and hand the result on (Region,
    per-user key :attr:`~worker.identity.tokens.VerifiedToken.user_key`).

    The signature (RS256, the pool's JWKS), ``exp``, ``token_use``, ``iss`` and the app
    client are checked by :class:`~worker.identity.tokens.TokenVerifier` before any claim
    is used. ``patience`` (workers) waits out an unreachable JWKS within the retry bounds.
    The token itself never appears in the result, in a log or in an exception.

    Raises:
        NotAuthorizedError: the token fails verification (naming what failed).
        TokenKeysUnavailableError: the pool's JWKS cannot be fetched (retryable).
    """
    if patience is None:
        return verifier.verify(token)
    return patience(verifier.verify, token)
