"""A managed Redis's usual ACL user, made on a real server for the tests.

``~* &* +@all -@dangerous``: every key, channel and command but the ``@dangerous``
category, which holds CONFIG and INFO (what ElastiCache and others often give). The
broker door's tests (tests/broker/test_door_wrong_urls.py) and the worker scenario
(tests/resilience/test_wrong_urls.py) both make it.
"""

from __future__ import annotations

import redis

__all__ = ["add_managed_acl_user"]


def add_managed_acl_user(admin_url: str, user: str, password: str) -> None:
    """Create (or reset) ``user`` with ``password`` and the managed Redis's rights."""
    admin = redis.Redis.from_url(admin_url)
    try:
        admin.acl_setuser(
            user,
            enabled=True,
            passwords=[f"+{password}"],
            keys=["*"],
            channels=["*"],
            categories=["+@all", "-@dangerous"],
        )
    finally:
        admin.close()
