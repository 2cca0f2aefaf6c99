"""The emulator's state machine, independent of HTTP: operations, limits, faults, records.

:class:`Emulator` owns one run's directory, token issuer, quota buckets, per-user cap,
fault injector and recorder. :data:`OPERATIONS` maps each served operation to its handler,
its quota category and whether real AWS wants it signed with IAM credentials.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.contrib.emulator import (
    admin,
    auth,
    codes,
    lifecycle,
    listusers,
    redeem,
    signin,
    synthetic,
)
from worker.contrib.emulator.codebook import CodeBook
from worker.contrib.emulator.config import EmulatorConfig
from worker.contrib.emulator.context import Context
from worker.contrib.emulator.errors import DAILY_EMAIL_LIMIT_MESSAGE, ServiceError
from worker.contrib.emulator.faults import FaultInjector
from worker.contrib.emulator.limits import CATEGORY_BY_OPERATION, HourlyCap, TokenBucket
from worker.contrib.emulator.seeding import build_directory
from worker.contrib.emulator.stats import Recorder
from worker.contrib.emulator.tokens import TokenIssuer
from worker.contrib.emulator.validation import load_validators

__all__ = ["OPERATIONS", "Emulator", "Operation"]

Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]
"""An operation's handler: the run (:class:`Emulator` is a :class:`Context`) and the call's
parameters -> the answer's document."""


@dataclass(frozen=True)
class Operation:
    """One served operation."""

    name: str
    handler: Handler
    needs_iam: bool
    category: str | None
    validate: Callable[[dict[str, Any]], None]


_HANDLERS: dict[str, tuple[Handler, bool]] = {
    "ResendConfirmationCode": (codes.resend_confirmation_code, False),
    "GetUserAttributeVerificationCode": (codes.get_user_attribute_verification_code, False),
    "SignUp": (auth.sign_up, False),
    "ConfirmSignUp": (redeem.confirm_sign_up, False),
    "VerifyUserAttribute": (redeem.verify_user_attribute, False),
    "InitiateAuth": (auth.initiate_auth, False),
    "ListUsers": (listusers.list_users, True),
    "CreateUserPool": (admin.create_user_pool, True),
    "CreateUserPoolClient": (admin.create_user_pool_client, True),
    "DescribeUserPool": (admin.describe_user_pool, True),
    "DescribeUserPoolClient": (admin.describe_user_pool_client, True),
    "ListUserPools": (admin.list_user_pools, True),
    "AdminCreateUser": (admin.admin_create_user, True),
    "AdminConfirmSignUp": (admin.admin_confirm_sign_up, True),
    "AdminSetUserPassword": (admin.admin_set_user_password, True),
    "AdminGetUser": (admin.admin_get_user, True),
    "GetUser": (lifecycle.get_user, False),
    "UpdateUserAttributes": (lifecycle.update_user_attributes, False),
    "AdminDeleteUser": (lifecycle.admin_delete_user, True),
    "AdminDisableUser": (lifecycle.admin_disable_user, True),
    "AdminEnableUser": (lifecycle.admin_enable_user, True),
    "AdminUpdateUserAttributes": (lifecycle.admin_update_user_attributes, True),
    "DeleteUserPool": (lifecycle.delete_user_pool, True),
    "DeleteUserPoolClient": (lifecycle.delete_user_pool_client, True),
    "ListUserPoolClients": (lifecycle.list_user_pool_clients, True),
    "AdminInitiateAuth": (signin.admin_initiate_auth, True),
    "RespondToAuthChallenge": (signin.respond_to_auth_challenge, False),
    "AdminRespondToAuthChallenge": (signin.admin_respond_to_auth_challenge, True),
}


def _build_operations() -> dict[str, Operation]:
    validators = load_validators(_HANDLERS)
    return {
        name: Operation(name, handler, needs_iam, CATEGORY_BY_OPERATION.get(name), validators[name])
        for name, (handler, needs_iam) in _HANDLERS.items()
    }


OPERATIONS: dict[str, Operation] = _build_operations()


class Emulator:
    """One emulator run. Not thread-safe: the server drives it from its event loop only."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.directory = build_directory(config)
        self.tokens = TokenIssuer(region=config.region)
        # the Region the call being handled was meant for (set by the server per call)
        self.call_region = config.region
        self.recorder = Recorder()
        self.injector = FaultInjector(config.faults, config.latency, seed=config.seed)
        self.caps = HourlyCap(config.per_user_hourly_cap)
        self.codebook = CodeBook()
        self.challenges: dict[str, tuple[str, str, str]] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self._codes = random.Random(f"codes/{config.seed}")  # noqa: S311 - reproducible
        self._emails_today: dict[tuple[str, int], int] = {}
        self._build_buckets()
        self._initial_scripts()

    def spend_default_email(self, region: str) -> None:
        """Count one e-mail of Cognito's default sender in ``region`` this UTC day.

        With ``daily_email_limit`` > 0, the call past the limit raises LimitExceededException
        with :data:`~worker.contrib.emulator.errors.DAILY_EMAIL_LIMIT_MESSAGE` and sends nothing.
        Source of the quota (50 a day for an account's default sender): Cognito developer
        guide, "Email settings for Amazon Cognito user pools" (default email), and public
        reports cds-snc/platform-forms-client#1104, aws-amplify/amplify-cli#7412.
        """
        limit = self.config.daily_email_limit
        if limit <= 0:
            return
        key = (region, int(time.time() // 86_400))
        sent = self._emails_today.get(key, 0)
        if sent >= limit:
            raise ServiceError("LimitExceededException", DAILY_EMAIL_LIMIT_MESSAGE)
        self._emails_today[key] = sent + 1

    def _initial_scripts(self) -> None:
        """Queue the scripts of the configuration and the seed file.

        Raises ``ValueError`` naming the script that names an unknown operation or holds
        an unreadable entry.
        """
        wanted = [
            {"operation": op, "username": None, "errors": [entry], "where": f"--script {op}"}
            for op, entry in self.config.scripts
        ]
        for script in [*wanted, *self.directory.scripts]:
            if script["operation"] not in OPERATIONS:
                raise ValueError(f"{script['where']}: unknown operation {script['operation']!r}")
            try:
                self.injector.add_script(script["operation"], script["errors"], script["username"])
            except ValueError as exc:
                raise ValueError(f"{script['where']}: {exc}") from None

    def _build_buckets(self) -> None:
        cfg = self.config
        self.buckets = {
            "UserResourceRead": TokenBucket(cfg.user_resource_read_per_second, cfg.burst),
            "UserList": TokenBucket(cfg.user_list_per_second, cfg.burst),
        }

    def next_code(self) -> str:
        """A 6-digit confirmation code from the run's seeded sequence."""
        return f"{self._codes.randrange(1_000_000):06d}"

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Apply run-time changes (quotas, burst, latency, faults, seed, cap, token lifetime).

        Raises ``ValueError`` for settings that cannot change at run time or bad values.
        """
        fixed = sorted({"region", "synthetic_users", "seed_file", "scripts"} & set(changes))
        if fixed:
            raise ValueError(f"cannot change at run time: {', '.join(fixed)}")
        config = self.config.updated(**changes)
        self.config = config
        self.injector.faults = config.faults
        self.injector.latency = config.latency
        if "seed" in changes:
            self.injector.reseed(config.seed)
            self._codes = random.Random(f"codes/{config.seed}")  # noqa: S311
        if "per_user_hourly_cap" in changes:
            self.caps.limit = config.per_user_hourly_cap
        if {"user_resource_read_per_second", "user_list_per_second", "burst"} & set(changes):
            self._build_buckets()
        return config

    def reset(self, *, pools: bool = False) -> None:
        """Clear deliveries, stats, caps (the daily e-mail count too), outstanding codes,
        scripts and buckets.

        Outstanding codes go with the deliveries that told them: a code no delivery shows
        any more is not redeemable either. ``pools`` also re-seeds the directory and
        queues the start-up scripts again.
        """
        self.recorder.reset()
        self.caps.clear()
        self.codebook.clear()
        self._emails_today.clear()
        self.injector.clear_scripts()
        self._build_buckets()
        if pools:
            self.challenges.clear()
            fresh = build_directory(self.config)
            fresh.succeed(self.directory)  # ids created after the reset do not repeat
            self.directory = fresh
            self.tokens.clear_refresh_tokens()
            self._initial_scripts()

    def describe(self) -> dict[str, Any]:
        """Pools with their client ids (and secrets), for start-up output and health."""
        pools = []
        for pool in self.directory.pools.values():
            pools.append(
                {
                    "id": pool.id,
                    "name": pool.name,
                    "users": pool.estimated_users,
                    "clients": [
                        {"id": c.id, "name": c.name, "secret": c.secret}
                        for c in pool.clients.values()
                    ],
                }
            )
        synthetic_pool = synthetic.pool_id(self.config.region)
        return {
            "region": self.config.region,
            "pools": pools,
            "synthetic_pool_id": synthetic_pool if synthetic_pool in self.directory.pools else None,
        }
