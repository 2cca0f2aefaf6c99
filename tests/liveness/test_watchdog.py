"""Every worker's watchdog: reaps expired work, and after a Redis outage spares expired
leases for two heartbeats (live holders renew first); one log line each way."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from worker.campaign.dispatch import CeleryDispatcher
from worker.contrib.redisserver import PrivateRedis
from worker.liveness.watchdog import Watchdog
from worker.runtime import Runtime
from worker.status import JOB_LEASES_KEY


class _App:
    """Records what the reaper sends (no broker needed)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send_task(self, name: str, *, kwargs: dict[str, Any], **_: Any) -> None:
        self.sent.append((name, kwargs))


def test_watchdog_waits_out_redis_then_spares_expired_leases_for_two_heartbeats(
    make_settings: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PrivateRedis(appendonly=True) as server:
        settings = make_settings(redis_url=server.url, heartbeat_seconds=1.0, lease_seconds=3)
        runtime = Runtime.from_settings(settings)
        payload = {"job_id": "j1", "client_id": "c", "username": "u"}
        runtime.statuses.create("j1", "ResendConfirmationCode", payload=payload)
        runtime.statuses.start("j1", holder="dead", lease_seconds=3)
        runtime.redis.zadd(JOB_LEASES_KEY, {"j1": 0})  # its holder stopped beating
        app = _App()
        dog = Watchdog(SimpleNamespace())
        dispatcher = CeleryDispatcher(app)
        caplog.set_level(logging.WARNING, logger="worker.liveness.watchdog")
        server.stop()
        for _ in range(3):  # three periods while Redis is away: one line, no traceback
            dog.tick(runtime, app, dispatcher)
        server.start()
        clock = [1000.0]
        monkeypatch.setattr("worker.liveness.watchdog.time.monotonic", lambda: clock[0])
        dog.tick(runtime, app, dispatcher)  # Redis is back: expired leases are spared
        assert app.sent == []
        clock[0] += 2 * settings.heartbeat_seconds + 0.1
        dog.tick(runtime, app, dispatcher)  # two heartbeats later: reaped and sent again
        assert app.sent == [("courier.resend_confirmation_code", payload)]
        assert runtime.statuses.get("j1")["redeliveries"] == 1
        runtime.redis.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis is unreachable" in m for m in messages) == 1, messages
    assert sum("Redis answers again" in m for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
