"""Listing a pool through ListUsers: a UserList permit per attempt, faults retried."""

from __future__ import annotations

import pytest

from tests.campaign.conftest import POOL_ID
from worker.campaign.sources import list_pool_pages
from worker.emulator import EmulatorHandle
from worker.errors import CampaignError
from worker.ratelimit import Category, LimiterConfig, StubRateLimiter
from worker.settings import Settings


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy IAM credentials: the emulator accepts any signature."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "emulator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator")


@pytest.mark.usefixtures("iam")
def test_transient_and_throttled_pages_are_retried(
    settings: Settings, emulator: EmulatorHandle
) -> None:
    limiter = StubRateLimiter(LimiterConfig.from_settings(settings))
    emulator.script(
        operation="ListUsers", errors=["InternalErrorException", "TooManyRequestsException"]
    )
    pages = list(
        list_pool_pages(settings, limiter, POOL_ID, filter_expression='username ^= "user00001"')
    )
    names = [name for page, _ in pages for name in page]
    assert len(names) == 100  # user0000100 .. user0000199
    assert limiter.state(Category.USER_LIST).throttles == 1
    assert emulator.stats()["totals"]["ListUsers"] == len(pages) + 2


@pytest.mark.usefixtures("iam")
def test_a_permanent_listing_error_is_a_campaign_error(
    settings: Settings, emulator: EmulatorHandle
) -> None:
    limiter = StubRateLimiter(LimiterConfig.from_settings(settings))
    with pytest.raises(CampaignError, match="ResourceNotFoundException"):
        list(list_pool_pages(settings, limiter, "us-east-1_NoSuchPool"))
    assert emulator.stats()["totals"]["ListUsers"] == 1
