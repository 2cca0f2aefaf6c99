"""Campaigns share the bulk rate by weight, one body per backend (stub, fakeredis, real Redis).

Each campaign's threads saturate the limiter with its own :class:`CampaignShare`; the
grants each campaign got are timed on the test's clock. The real-process version (two
campaigns through real workers and the emulator) is ``test_limits_processes.py``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from tests.support.backends import Backend, make_config
from tests.support.timing import max_in_window, steady_rate
from worker.errors import PermitTimeoutError
from worker.ratelimit import CampaignShare, Category, Grant, Priority, check_weight

URR = Category.USER_RESOURCE_READ
BULK = Priority.BULK
INTERACTIVE = Priority.INTERACTIVE


def _run(limiter: object, share: CampaignShare, stop: float, out: list[float]) -> None:
    acquire = limiter.acquire  # type: ignore[attr-defined]
    while (left := stop - time.monotonic()) > 0:
        try:
            acquire(URR, priority=BULK, timeout_seconds=left, campaign=share)
        except PermitTimeoutError:
            return
        out.append(time.monotonic())


def _campaigns(
    limiter: object,
    shares: list[CampaignShare],
    seconds: float,
    *,
    threads: list[int] | None = None,
    delays: list[float] | None = None,
) -> dict[str, list[float]]:
    """Run saturating threads per campaign (3 unless ``threads`` says, each campaign after
    its delay); the grant times of each."""
    times: dict[str, list[float]] = {s.campaign_id: [] for s in shares}
    start = time.monotonic()
    stop = start + seconds
    workers = []
    counts = threads or [3] * len(shares)
    for share, delay, count in zip(shares, delays or [0.0] * len(shares), counts, strict=True):

        def body(share: CampaignShare = share, delay: float = delay) -> None:
            time.sleep(max(0.0, start + delay - time.monotonic()))
            _run(limiter, share, stop, times[share.campaign_id])

        workers += [threading.Thread(target=body) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 10)
    return times


def test_two_campaigns_split_the_bulk_rate_equally(backend: Backend) -> None:
    grants: list[Grant] = []
    limiter = backend.limiter(make_config(20.0), on_grant=grants.append)
    # the big one asks with four times the threads: unshared, it would take 4/5 of the rate
    shares = [CampaignShare("big"), CampaignShare("small")]
    times = _campaigns(limiter, shares, 2.0, threads=[8, 2])
    # until the second campaign's first permit the first one is alone and rightly takes the
    # whole bulk rate; from then on each is held to its half
    both_from = max(min(granted) for granted in times.values())
    for campaign, granted in times.items():
        assert steady_rate(granted) >= 0.45 * 20, (campaign, steady_rate(granted))
        shared = [t for t in granted if t >= both_from]
        assert max_in_window(shared) <= 11, campaign  # its share, 10/s, + 1
    assert max_in_window([g.granted_at for g in grants]) <= 21  # the bulk rate still holds


def test_weights_split_the_bulk_rate_in_proportion(backend: Backend) -> None:
    limiter = backend.limiter(make_config(20.0))
    times = _campaigns(limiter, [CampaignShare("heavy", 3.0), CampaignShare("light", 1.0)], 2.0)
    heavy, light = steady_rate(times["heavy"]), steady_rate(times["light"])
    assert 0.9 * 15 <= heavy <= 15.5, heavy
    assert 0.9 * 5 <= light <= 5.5, light


def test_a_campaign_started_behind_a_big_one_gets_its_share_at_once(backend: Backend) -> None:
    limiter = backend.limiter(make_config(20.0))
    shares = [CampaignShare("big"), CampaignShare("late")]
    times = _campaigns(limiter, shares, 2.5, threads=[8, 2], delays=[0.0, 1.0])
    late = times["late"]
    assert late
    assert late[0] - min(times["big"]) < 1.0 + 0.2  # its first permit at once
    both = [t for t in times["big"] if t >= late[0]]
    assert steady_rate(late) >= 0.45 * 20, steady_rate(late)
    assert steady_rate(both) <= 0.55 * 20 + 0.5, steady_rate(both)  # the big one slowed down


def test_shares_show_each_active_campaign_and_an_idle_one_gives_its_share_back(
    backend: Backend,
) -> None:
    limiter = backend.limiter(replace(make_config(20.0), campaign_active_seconds=0.5))
    assert limiter.campaign_shares(URR) == {}
    assert limiter.try_acquire(URR, priority=BULK, campaign=CampaignShare("a", 3.0)) == 0.0
    limiter.try_acquire(URR, priority=BULK, campaign=CampaignShare("b"))
    assert limiter.campaign_shares(URR) == {"a": pytest.approx(15.0), "b": pytest.approx(5.0)}
    time.sleep(0.3)
    limiter.try_acquire(URR, priority=BULK, campaign=CampaignShare("a", 3.0))
    time.sleep(0.35)  # b asked 0.65 s ago: idle
    assert limiter.campaign_shares(URR) == {"a": pytest.approx(20.0)}
    times = _campaigns(limiter, [CampaignShare("a", 3.0)], 1.0)
    assert steady_rate(times["a"]) >= 0.9 * 20  # alone again: the whole bulk rate


def test_shares_follow_the_bulk_share_and_the_budget(backend: Backend) -> None:
    limiter = backend.limiter(make_config(40.0, bulk_share=0.5))
    limiter.try_acquire(URR, priority=BULK, campaign=CampaignShare("a"))
    limiter.try_acquire(URR, priority=BULK, campaign=CampaignShare("b"))
    assert limiter.campaign_shares(URR) == {"a": pytest.approx(10.0), "b": pytest.approx(10.0)}
    limiter.set_budget(URR, 80.0)
    assert limiter.campaign_shares(URR) == {"a": pytest.approx(20.0), "b": pytest.approx(20.0)}
    limiter.reset(URR)
    assert limiter.campaign_shares(URR) == {}


def test_interactive_work_keeps_its_priority_over_every_campaign(backend: Backend) -> None:
    limiter = backend.limiter(make_config(20.0))
    waits: list[float] = []
    stop = time.monotonic() + 1.6

    def interactive() -> None:
        time.sleep(0.5)
        while time.monotonic() < stop - 0.2:
            waits.append(limiter.acquire(URR, priority=INTERACTIVE, timeout_seconds=1.0))
            time.sleep(0.1)

    caller = threading.Thread(target=interactive)
    caller.start()
    _campaigns(limiter, [CampaignShare("a"), CampaignShare("b", 5.0)], 1.6)
    caller.join()
    assert waits
    assert max(waits) <= 2 / 20 + 0.05, waits  # about one period, never a queue


def test_only_bulk_permits_belong_to_a_campaign(backend: Backend) -> None:
    limiter = backend.limiter(make_config(20.0))
    with pytest.raises(ValueError, match="only bulk permits"):
        limiter.try_acquire(URR, priority=INTERACTIVE, campaign=CampaignShare("a"))
    with pytest.raises(ValueError, match="only bulk permits"):
        limiter.acquire(URR, priority=INTERACTIVE, timeout_seconds=1, campaign=CampaignShare("a"))


@pytest.mark.parametrize("bad", [0, -1, 0.001, 101, float("nan"), float("inf"), "x", None])
def test_a_weight_out_of_range_is_refused_naming_the_range(bad: object) -> None:
    with pytest.raises(ValueError, match=r"0\.01 to 100"):
        check_weight(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"0\.01 to 100"):
        CampaignShare("a", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65])
def test_a_campaign_id_must_be_an_id(bad: str) -> None:
    with pytest.raises(ValueError, match="campaign id"):
        CampaignShare(bad)
