"""The producer API refuses bad ids, durations and oversized tokens by name, at the door."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
import redis

from tasks import campaign_status, job_status, submit_attribute_verification, wait
from worker.errors import InvalidRequestError, JobNotFoundError
from worker.runtime import Runtime
from worker.validation import ACCESS_TOKEN_MAX_LENGTH, check_access_token, check_seconds

NOT_IDS: list[Any] = [None, 7, 1.5, b"job", ["job"], {"id": "x"}, True, "", "x" * 65]


@pytest.mark.parametrize("job_id", NOT_IDS, ids=repr)
def test_job_status_refuses_a_non_string_id(runtime: Runtime, job_id: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^job_id: ") as caught:
        job_status(job_id)
    assert caught.value.field == "job_id"


@pytest.mark.parametrize("job_id", NOT_IDS, ids=repr)
def test_wait_refuses_a_non_string_id(runtime: Runtime, job_id: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^job_id: "):
        wait(job_id, timeout_seconds=1)


@pytest.mark.parametrize("campaign_id", [None, 3, b"c", ""], ids=repr)
def test_campaign_status_refuses_a_non_string_id(runtime: Runtime, campaign_id: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^campaign_id: "):
        campaign_status(campaign_id)


BAD_SECONDS: list[Any] = [math.nan, math.inf, -math.inf, -0.5, -1, "1", None, True, [1]]


@pytest.mark.parametrize("timeout", BAD_SECONDS, ids=repr)
def test_wait_refuses_a_bad_timeout(runtime: Runtime, timeout: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^timeout_seconds: ") as caught:
        wait("some-job", timeout_seconds=timeout)
    assert caught.value.field == "timeout_seconds"


@pytest.mark.parametrize("interval", [*BAD_SECONDS, 0, 0.0], ids=repr)
def test_wait_refuses_a_bad_poll_interval(runtime: Runtime, interval: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^poll_interval_seconds: "):
        wait("some-job", timeout_seconds=1, poll_interval_seconds=interval)


def test_wait_with_nan_timeout_returns_at_once_instead_of_hanging(runtime: Runtime) -> None:
    # The reported hang: NaN compared false with every deadline. It must not even poll.
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            wait("no-such-job", timeout_seconds=math.nan)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], InvalidRequestError)


def test_wait_accepts_zero_and_integer_timeouts(runtime: Runtime) -> None:
    for timeout in (0, 0.0, 1):
        with pytest.raises(JobNotFoundError):
            wait("no-such-job", timeout_seconds=timeout)


def test_check_seconds_returns_a_float() -> None:
    assert check_seconds("x", 2) == 2.0
    assert isinstance(check_seconds("x", 2), float)


def test_access_token_cap(runtime: Runtime, redis_client: redis.Redis) -> None:
    at_cap = "a" * ACCESS_TOKEN_MAX_LENGTH
    assert check_access_token(at_cap) == at_cap
    started = time.monotonic()
    with pytest.raises(InvalidRequestError, match=r"^AccessToken: is 12000000 characters long"):
        submit_attribute_verification("a" * 12_000_000, "email")
    assert time.monotonic() - started < 2
    with pytest.raises(InvalidRequestError, match=f"at most {ACCESS_TOKEN_MAX_LENGTH}"):
        check_access_token(at_cap + "b")
    assert list(redis_client.scan_iter(match="courier:job:*")) == []
