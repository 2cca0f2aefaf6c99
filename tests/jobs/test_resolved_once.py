"""A job's Region and its AccessToken are worked out once in the worker, then handed on.

Before, a verify job's token was decoded three times in the worker and a resend job's
Region resolved twice (in ``deliver()`` and again in the gateway). Real Redis, a real
Celery worker (threads of this process), boto3 over HTTP to the emulator; the two
functions that do the work are wrapped to count their calls by thread: the producer's
own check at the door runs in the test's thread, the job in a worker thread.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tasks import submit_attribute_verification, submit_resend, wait
from worker.identity.regions import RegionResolver
from worker.identity.tokens import TokenVerifier

pytestmark = pytest.mark.usefixtures("celery_worker")


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> Counter[str]:
    """Count calls of ``owner.name``: ``door`` from the test's thread, ``worker`` others."""
    counted: Counter[str] = Counter()
    original: Callable[..., Any] = getattr(owner, name)

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        side = "door" if threading.current_thread() is threading.main_thread() else "worker"
        counted[side] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return counted


def test_a_verify_job_verifies_its_token_once_in_the_worker(
    pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    username = pool.add_user(f"once-{uuid.uuid4().hex[:10]}", confirmed=True)
    token = pool.access_token(username)
    verified = _count_calls(monkeypatch, TokenVerifier, "verify")
    document = wait(submit_attribute_verification(token, "email"), timeout_seconds=30)
    assert document["state"] == "succeeded", document
    assert verified == {"door": 1, "worker": 1}


def test_a_resend_job_resolves_its_region_once_in_the_worker(
    pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    username = pool.add_user(f"once-{uuid.uuid4().hex[:10]}")
    resolved = _count_calls(monkeypatch, RegionResolver, "for_client")
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=30)
    assert document["state"] == "succeeded", document
    assert resolved["worker"] == 1, resolved
