"""Listing a pool through ListUsers: a UserList permit per attempt, faults retried, cancel."""

from __future__ import annotations

from typing import cast

import pytest

from tasks.campaigns import cancel_campaign
from tests.support.synthetic import CLIENT_ID, POOL_ID
from worker.campaign.ingest import CampaignOptions, create_campaign, ingest_pool_step
from worker.campaign.sources import list_pool_pages
from worker.cognito import CognitoGateway
from worker.contrib.emulator import EmulatorHandle
from worker.errors import CampaignError
from worker.ratelimit import Category, LimiterConfig, RateLimiter, StubRateLimiter
from worker.runtime import Runtime
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
        list_pool_pages(
            CognitoGateway(settings), limiter, POOL_ID, filter_expression='username ^= "user00001"'
        )
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
        list(list_pool_pages(CognitoGateway(settings), limiter, "us-east-1_NoSuchPool"))
    assert emulator.stats()["totals"]["ListUsers"] == 1


@pytest.mark.usefixtures("iam")
def test_cancel_stops_a_pool_listing(runtime: Runtime, emulator: EmulatorHandle) -> None:
    settings = runtime.settings
    options = CampaignOptions(
        client_id=CLIENT_ID,
        source={"kind": "pool", "user_pool_id": POOL_ID, "filter": 'username ^= "user000"'},
    )  # 10,000 names match the prefix, 5,000 exist: 84 pages of 60
    store, _ = create_campaign(runtime.redis, settings, "cafe0000cafe0000", options)
    stub = StubRateLimiter(LimiterConfig.from_settings(settings))
    permits = 0

    class CancelOnTheSecondPage:
        """The stub limiter; the operator cancels while the second page is being listed."""

        def __getattr__(self, name: str) -> object:
            return getattr(stub, name)

        def acquire(self, category: Category, **options: object) -> float:
            nonlocal permits
            permits += 1
            if permits == 2:
                assert cancel_campaign(store.id)["state"] == "cancelled"
            return stub.acquire(category, **options)  # type: ignore[arg-type]

    limiter = cast("RateLimiter", CancelOnTheSecondPage())
    assert ingest_pool_step(store, runtime.gateway, limiter, budget_seconds=60.0)
    assert emulator.stats()["totals"]["ListUsers"] == 2  # not 84
    doc = store.status()
    assert doc["state"] == "cancelled"
    assert doc["total"] == 120
    assert doc["counts"]["cancelled"] == 120  # the page listed after the cancel too
