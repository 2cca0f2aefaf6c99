"""Where the Redis limiter keeps its state: the key of every budget, GCRA and marker.

Keys, per Region and category (the braces are a Redis Cluster hash tag: one slot per
category; a limiter made without a Region leaves ``eu-west-1:`` out; all but the budgets
and ``adapt`` expire on their own when idle)::

    courier:rl:{UserResourceRead}:budget           budget override for every Region
    courier:rl:{UserResourceRead}:regions          set: every Region that asked for a permit
                                                   or was given a budget of its own
    courier:rl:eu-west-1:{UserResourceRead}:budget            the Region's budget override
    courier:rl:eu-west-1:{UserResourceRead}:adapt             hash: adaptive state
    courier:rl:eu-west-1:{UserResourceRead}:tat               GCRA tat and its period
    courier:rl:eu-west-1:{UserResourceRead}:bulk_tat          bulk GCRA tat and its period
    courier:rl:eu-west-1:{UserResourceRead}:waiting           zset: interactive token -> until
    courier:rl:eu-west-1:{UserResourceRead}:campaigns         zset: campaign id -> last request
    courier:rl:eu-west-1:{UserResourceRead}:campaign_weights  hash: campaign id -> weight
    courier:rl:eu-west-1:{UserResourceRead}:campaign:<id>:tat the campaign's GCRA
"""

from __future__ import annotations

from typing import NamedTuple

from worker.ratelimit.base import Category

__all__ = [
    "KEY_PREFIX",
    "LimiterKeys",
    "campaign_tat_key",
    "every_region_budget_key",
    "limiter_keys",
    "regions_key",
]

KEY_PREFIX = "courier:rl"


class LimiterKeys(NamedTuple):
    """The keys of one category's state in one Region (or in none)."""

    budget: str
    adapt: str
    tat: str
    bulk_tat: str
    waiting: str
    campaigns: str
    campaign_weights: str


def limiter_keys(prefix: str, region: str | None, category: Category) -> LimiterKeys:
    """The keys of ``category``'s state under ``prefix``, in ``region`` (None: no Region)."""
    scope = f"{region}:" if region is not None else ""
    base = f"{prefix}:{scope}{{{Category(category).value}}}:"
    return LimiterKeys(*(base + name for name in LimiterKeys._fields))


def campaign_tat_key(keys: LimiterKeys, campaign_id: str) -> str:
    """The GCRA of one campaign's share (in the category's hash slot)."""
    return keys.tat.removesuffix("tat") + f"campaign:{campaign_id}:tat"


def every_region_budget_key(prefix: str, category: Category) -> str:
    """The key of the budget override for every Region (the first scheme's key)."""
    return f"{prefix}:{{{Category(category).value}}}:budget"


def regions_key(prefix: str, category: Category) -> str:
    """The set of every Region whose limiter took (or asked for) a permit or was given a
    budget of its own."""
    return f"{prefix}:{{{Category(category).value}}}:regions"
