"""Script entries read without a server: repeats, named answers, objects, limits."""

from __future__ import annotations

from typing import Any

import pytest

from worker.contrib.emulator.errors import DAILY_EMAIL_LIMIT_MESSAGE
from worker.contrib.emulator.faults import MAX_SCRIPT_ENTRIES, Fault, expand_script


def test_repeats_named_answers_and_messages_with_colons() -> None:
    faults = expand_script(
        ["@daily-email-limit*3", "CodeDeliveryFailureException:a: b*c", "500*0", "drop"]
    )
    daily = Fault("error", code="LimitExceededException", message=DAILY_EMAIL_LIMIT_MESSAGE)
    assert faults == [
        daily,
        daily,
        daily,
        Fault("error", code="CodeDeliveryFailureException", message="a: b*c"),
        Fault("drop"),
    ]


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([f"500*{MAX_SCRIPT_ENTRIES + 1}"], "at most"),
        (["@nope"], "unknown named answer"),
        (["400"], "bare answers must be 5xx"),
        (["slow:-5"], "negative delay"),
        ([{"code": "X", "message": 5}], "'message' must be a string"),
        ([["nested"]], "must be a string or an object"),
        (["not an identifier"], "unreadable"),
    ],
)
def test_unreadable_entries_name_the_problem(entries: list[Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        expand_script(entries)
