"""Honest figures (rate, ETA, duration) and the report (messages, rejects, spreadsheet-safe)."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from tasks.campaigns import campaign_status, start_campaign, write_campaign_report
from tests.support.campaigns import wait_for
from tests.support.synthetic import CLIENT_ID, usernames
from worker.campaign.figures import Share
from worker.campaign.model import CODE_BY_STATE
from worker.campaign.report import unescape_cell
from worker.campaign.store import CampaignStore
from worker.contrib.emulator import EmulatorHandle

FIELDS: dict[str, str | int | float] = {
    "name": "figures",
    "client_id": "c",
    "chunk_size": 100,
    "window": 2,
    "lease_seconds": 30,
    "slice_seconds": 5,
    "tick_seconds": 1,
    "source": "{}",
    "budget_rate": 40.0,
}


def _settle(store: CampaignStore, rows: range, expire_at: int) -> None:
    """Claim and record ``rows`` as succeeded, one call each, through the real scripts."""
    k = store.keys
    member, token = "c:0", "t"
    store.run("NEXT", [k.meta, k.leases, k.owners, k.requeue], [2, token, 30, expire_at])
    for row in rows:
        store.run(
            "CLAIM", [k.meta, k.rows, k.counts, k.leases, k.owners], [member, token, 30, 1, 0, row]
        )
        record = f"{row}\t2\t\t\t\t1\t0\t\n"
        keys = [k.meta, k.rows, k.counts, k.leases, k.rate, k.deferred, k.run, k.outcomes(0)]
        store.run(
            "RECORD",
            keys,
            [member, 30, expire_at, 1, row, CODE_BY_STATE["succeeded"], record, 1, 0],
        )


def test_eta_starts_from_the_budget_share_and_a_finished_rate_stays(
    redis_client: redis.Redis,
) -> None:
    store = CampaignStore(redis_client, "f1")
    expire_at = int(store.create(ttl_seconds=3600, fields=FIELDS))
    store.append_rows(
        [f"u{n}" for n in range(100)], first_row=0, chunk_size=100, expire_at=expire_at
    )
    store.finish_ingest(rejected=0, duplicates=0)
    first = store.status()
    assert first["eta_seconds"] == 2.5  # 100 rows at the 40/s share, nothing measured yet
    assert first["pause_reason"] is None
    assert first["duration_seconds"] >= 0
    _settle(store, range(10), expire_at)
    assert store.status()["eta_seconds"] == 2.2  # 10 calls are too few to measure: 88/40
    _settle(store, range(10, 100), expire_at)
    k = store.keys
    store.run("RELEASE", [k.leases, k.owners, k.requeue], ["c:0", "t", 0, expire_at])
    store.run(
        "FINISH",
        [
            store.keys.meta,
            store.keys.counts,
            store.keys.leases,
            store.keys.requeue,
            store.keys.deferred,
        ],
        [],
    )
    done = store.status()
    assert done["state"] == "done"
    assert done["rate"] == 100.0  # 100 calls within one second: the average, over 1 s at least
    # as if a minute passed: every second of the rate ring is old now, the average stays
    for slot in range(32):
        stamp = redis_client.hget(store.keys.rate, f"t{slot}")
        if stamp is not None:
            redis_client.hset(store.keys.rate, f"t{slot}", int(stamp) - 60)
    later = store.status()
    assert later["rate"] == done["rate"]
    assert later["duration_seconds"] == done["duration_seconds"]
    assert later["eta_seconds"] == 0.0


def test_eta_follows_the_share_and_is_null_while_paused(redis_client: redis.Redis) -> None:
    store = CampaignStore(redis_client, "f2")
    expire_at = int(store.create(ttl_seconds=3600, fields={**FIELDS, "weight": 2.0}))
    store.append_rows(
        [f"u{n}" for n in range(100)], first_row=0, chunk_size=100, expire_at=expire_at
    )
    store.finish_ingest(rejected=0, duplicates=0)
    alone = store.status()
    assert alone["weight"] == 2.0
    assert alone["share"] == {"fraction": None, "rate_per_second": None}  # no permit yet
    shared = store.status(share=Share(rate_per_second=10.0, fraction=0.25))
    assert shared["share"] == {"fraction": 0.25, "rate_per_second": 10.0}
    assert shared["eta_seconds"] == 10.0  # 100 rows at its 10/s share, not the 40/s budget
    _settle(store, range(10), expire_at)
    store.set_state("paused", allowed_from={"active"})
    for _ in range(3):  # it read 20.3, then 16476.3 while nothing was sent
        paused = store.status(share=Share(rate_per_second=10.0, fraction=0.25))
        assert paused["state"] == "paused"
        assert paused["eta_seconds"] is None
        assert paused["share"] == {"fraction": None, "rate_per_second": None}
        time.sleep(0.3)


def test_report_is_spreadsheet_safe_and_exact_names_recoverable(
    celery_worker: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    risky = ['=HYPERLINK("http://evil.example","x")', "+1234", "-5+5", "@SUM(A1)", "'quoted"]
    names = [*usernames(1, 3), *risky]
    path = tmp_path / "users.txt"
    path.write_text("\n".join([*names, "bad\x0bline"]) + "\n", encoding="utf-8")
    doc = start_campaign(CLIENT_ID, data=path.read_bytes(), file_format="text")
    final = wait_for(campaign_status, doc["id"], timeout=60)
    assert final["counts"]["succeeded"] == 3
    assert final["counts"]["failed"] == len(risky)
    assert final["duration_seconds"] > 0
    assert final["rate"] > 0
    out = tmp_path / "report.csv"
    assert write_campaign_report(doc["id"], out) == len(names) + 1
    raw = out.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    by_name = {unescape_cell(row["username"]): row for row in rows}
    assert set(by_name) == {*names, ""}
    for name in risky:
        row = by_name[name]
        assert row["username"] == "'" + name
        assert (row["state"], row["error_code"]) == ("failed", "UserNotFoundException")
        assert row["error_message"] == "Username/client id combination not found."
    assert by_name["user0000001"]["username"] == "user0000001"  # plain names untouched
    rejected = by_name[""]
    assert (rejected["state"], rejected["line"]) == ("rejected", str(len(names) + 1))
    assert rejected["error_message"].startswith("control character VT (U+000B")


def test_report_times_carry_the_millisecond(
    celery_worker: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    began = time.time()
    doc = start_campaign(CLIENT_ID, data="\n".join(usernames(1, 8)).encode(), file_format="text")
    final = wait_for(campaign_status, doc["id"], timeout=60)
    assert final["counts"]["succeeded"] == 8
    out = tmp_path / "report.csv"
    write_campaign_report(doc["id"], out)
    report = out.read_text(encoding="utf-8")
    stamps = [row["time"] for row in csv.DictReader(io.StringIO(report, newline=""))]
    assert len(stamps) == 8
    for stamp in stamps:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), stamp
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        assert began - 0.001 <= at <= time.time(), (stamp, began)
    # whole seconds show ".000": eight rows that all land on one are 1 in 10**24
    assert any(not stamp.endswith(".000Z") for stamp in stamps), stamps


def test_report_counts_the_calls_that_got_no_answer(
    celery_worker: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    # slow:3000 answers one second after the tests' 2-s read timeout: the call left and no
    # answer came, so it may have delivered (the report's ``ambiguous`` column)
    late, lost, plain = usernames(1, 3)
    emulator.script(operation="ResendConfirmationCode", username=late, errors=["slow:3000"])
    emulator.script(operation="ResendConfirmationCode", username=lost, errors=["slow:3000*6"])
    doc = start_campaign(
        CLIENT_ID, data="\n".join([late, lost, plain]).encode(), file_format="text"
    )
    final = wait_for(campaign_status, doc["id"], timeout=90)
    assert (final["counts"]["succeeded"], final["counts"]["failed"]) == (2, 1), final
    out = tmp_path / "report.csv"
    write_campaign_report(doc["id"], out)
    with out.open(encoding="utf-8", newline="") as handle:
        rows = {row["username"]: row for row in csv.DictReader(handle)}
    seen = {
        name: (row["state"], row["error_code"], row["attempts"], row["ambiguous"])
        for name, row in rows.items()
    }
    assert seen == {
        late: ("succeeded", "", "2", "1"),
        lost: ("failed", "CourierDeliveryUnconfirmed", "2", "2"),
        plain: ("succeeded", "", "1", "0"),
    }
