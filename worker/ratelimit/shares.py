"""Campaigns share the bulk rate by weight: the vocabulary both limiter backends use.

Campaigns that asked for a bulk permit in the last :data:`CAMPAIGN_ACTIVE_SECONDS` split
the bulk rate (``rate * bulk_share``) in proportion to their weights; each one's permits
pass a GCRA of its own at its part (:mod:`worker.ratelimit.redis`, docs/ratelimit.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "CAMPAIGN_ACTIVE_SECONDS",
    "CAMPAIGN_BURST_TOLERANCE",
    "MAX_CAMPAIGN_WEIGHT",
    "MIN_CAMPAIGN_WEIGHT",
    "WEIGHT_RANGE",
    "CampaignShare",
    "check_weight",
    "parse_shares",
    "share_of",
]

MIN_CAMPAIGN_WEIGHT = 0.01
"""The smallest campaign weight: a hundredth of a default campaign's share."""

MAX_CAMPAIGN_WEIGHT = 100.0
"""The largest campaign weight: a hundred times a default campaign's share."""

WEIGHT_RANGE = f"{MIN_CAMPAIGN_WEIGHT:g} to {MAX_CAMPAIGN_WEIGHT:g}"
"""The accepted campaign weights, as error messages and ``--help`` name them."""

CAMPAIGN_BURST_TOLERANCE = 0.25
"""How early, as a fraction of its own period, a campaign's permit may pass its GCRA: a
quarter, as for the global GCRA, so a campaign gets at most ``1 + (W + tau) / period``
permits in ``W`` seconds. A whole period was tried (to make up a slot another campaign's
permit had delayed at the bulk GCRA): it let both campaigns burst, the one with more
threads in flight won the races for the bulk slots, and on the loaded 2-core machine the
small one fell to 0.26-0.45 of the bulk rate in ``tests/ratelimit/test_ratelimit_campaigns.py``
(about 0.45-0.5 with a quarter, under the same load).
"""

CAMPAIGN_ACTIVE_SECONDS = 3.0
"""A campaign that asked for a bulk permit this recently holds a share of the bulk rate.

Its threads ask again at least every ``max_sleep_seconds`` while they wait, so a sending
campaign never drops out; one that stopped (finished, paused) gives its share back to the
others this long after its last request.
"""


def check_weight(weight: float) -> float:
    """Return ``weight`` as a float when it is a usable campaign weight.

    Raises:
        ValueError: naming :data:`WEIGHT_RANGE`, when ``weight`` is not a finite number from
            :data:`MIN_CAMPAIGN_WEIGHT` to :data:`MAX_CAMPAIGN_WEIGHT`.
    """
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise ValueError(
            f"campaign weight must be a number {WEIGHT_RANGE}, got {weight!r}"
        ) from None
    if not (math.isfinite(value) and MIN_CAMPAIGN_WEIGHT <= value <= MAX_CAMPAIGN_WEIGHT):
        raise ValueError(f"campaign weight must be {WEIGHT_RANGE}, got {weight!r}")
    return value


@dataclass(frozen=True)
class CampaignShare:
    """Which campaign a bulk permit is for, and how large its part of the bulk rate is.

    Campaigns that asked for a bulk permit in the last :data:`CAMPAIGN_ACTIVE_SECONDS`
    split the bulk rate (``rate * bulk_share``) in proportion to their weights: campaign
    ``i`` is paced at ``bulk_rate * weight_i / sum(weights of the active campaigns)``.

    Attributes:
        campaign_id: the campaign's id (1-64 characters, no whitespace).
        weight: its weight, :data:`WEIGHT_RANGE` (1.0: an equal share).

    Raises:
        ValueError: on construction, for an empty or over-long id or a weight out of range.
    """

    campaign_id: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        cid = self.campaign_id
        if not (isinstance(cid, str) and 1 <= len(cid) <= 64 and not any(c.isspace() for c in cid)):
            raise ValueError(f"campaign id must be 1-64 characters without spaces, got {cid!r}")
        object.__setattr__(self, "weight", check_weight(self.weight))


def share_of(shares: Mapping[str, float], campaign_id: str) -> tuple[float, float] | None:
    """``(calls/s, fraction of the bulk rate)`` of ``campaign_id`` in ``shares`` (a
    :meth:`RateLimiter.campaign_shares` answer), None when it is not among them."""
    rate = shares.get(campaign_id)
    if rate is None:
        return None
    return rate, rate / sum(shares.values())


def parse_shares(answer: Sequence[bytes | str]) -> dict[str, float]:
    """Campaign id -> calls/s from the limiter's SHARES script answer, ``{bulk rate, id,
    weight, id, weight, ...}``: the bulk rate split in proportion to the weights."""
    bulk_rate, pairs = float(answer[0]), answer[1:]
    weights = {
        (cid.decode() if isinstance(cid, bytes) else cid): float(weight)
        for cid, weight in zip(pairs[0::2], pairs[1::2], strict=True)
    }
    total = sum(weights.values())
    return {cid: bulk_rate * w / total for cid, w in weights.items()} if total else {}
