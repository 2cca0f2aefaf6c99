"""The campaign page in a real headless Chromium: a real ``courier api`` and ``courier
worker``, a private Redis, the emulator, all processes; the browser reaches only 127.0.0.1.

Log in through the form, see the counts follow the store within 2 s, press pause (the store
says paused), resume (it runs again); screenshots are kept (``$CI_ARTIFACTS`` or
.pytest_cache/: ``campaign-page.png`` while running, ``campaign-page-resumed.png`` after the
pause; docs/images/campaign-page.png is one of the latter). Then ``/docs`` and ``/redoc``
render with nothing from the internet.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.support.browser import artifact_path, headless_chromium, resource_urls
from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess, serving_api, start_campaign
from tests.support.stack import stack_env
from tests.support.synthetic import CLIENT_ID, usernames
from worker.campaign.store import CampaignStore
from worker.contrib.redisserver import PrivateRedis

TOKEN = "ui-browser-token-0d4e7a"
RATE_LIMIT = 5  # calls/s in all; the bulk share (0.8) gives the campaign 4/s
USERS = 160  # about 40 s of sending: still running while the test looks
GHOSTS = ["ghost-user-1", "ghost-user-2"]  # not in the pool: UserNotFoundException
LIVE_SECONDS = 2.0


@dataclass
class Front:
    url: str
    client: redis.Redis
    campaign_id: str


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    """Redis, the emulator, one worker and ``courier api``; a campaign started by the CLI."""
    logs = tmp_path_factory.mktemp("ui-logs")
    server = PrivateRedis()
    server.start()
    emulator = EmulatorProcess(logs / "emulator.log", ["--users", str(USERS)])
    worker: WorkerProcess | None = None
    try:
        emulator.start()
        env = stack_env(server.url, emulator.endpoint_url, api_tokens=TOKEN, rate_limit=RATE_LIMIT)
        worker = WorkerProcess("ui", env, logs, ["-c", "2"]).start()
        path = logs / "users.txt"
        rows = [*GHOSTS, *usernames(1, USERS), "x" * 200]  # the last row is rejected
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        campaign_id = start_campaign(env, path, CLIENT_ID, "--name", "browser test")
        with serving_api(env, log_path=logs / "api.log") as url:
            client = redis.Redis.from_url(server.url)
            yield Front(url, client, campaign_id)
            client.close()
    finally:
        if worker is not None:
            worker.stop()
        emulator.stop()
        server.close()


def _shown(driver: webdriver.Chrome, selector: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def _count(driver: webdriver.Chrome, state: str) -> int:
    return int(_shown(driver, f'[data-count="{state}"]') or -1)


def _stored(front: Front) -> dict[str, object]:
    return CampaignStore(front.client, front.campaign_id).status()


def _succeeded(front: Front) -> int:
    counts = _stored(front)["counts"]
    assert isinstance(counts, dict)
    return int(counts["succeeded"])


def _only_local(urls: list[str], front: Front) -> None:
    outside = [u for u in urls if not u.startswith(front.url + "/")]
    assert not outside, f"the page loaded from outside {front.url}: {outside}"


def _press(driver: webdriver.Chrome, front: Front, control: str, *, then: str) -> None:
    """Press a control button; the page shows ``then`` within 2 s, and the store says so."""
    driver.find_element(By.CSS_SELECTOR, f'button[data-control="{control}"]').click()
    wait_until(
        lambda: _shown(driver, '[data-field="state"]') == then,
        timeout_seconds=LIVE_SECONDS,
        what=f"the page to show {then}",
    )
    assert _stored(front)["state"] == then


def _log_in(driver: webdriver.Chrome, front: Front) -> None:
    driver.get(f"{front.url}/ui/campaigns/{front.campaign_id}")
    assert driver.current_url == f"{front.url}/ui/login"  # redirected: not logged in
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.ID, "login").click()
    wait_until(
        lambda: driver.current_url == f"{front.url}/ui/", timeout_seconds=10, what="the list"
    )
    cookie = driver.get_cookie("courier_session")
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert TOKEN not in str(cookie["value"])


def test_campaign_page_follows_the_store_and_pauses(front: Front) -> None:
    with headless_chromium() as driver:
        _log_in(driver, front)
        driver.find_element(By.CSS_SELECTOR, f'a[href="/ui/campaigns/{front.campaign_id}"]').click()
        wait_until(
            lambda: driver.find_element(By.ID, "campaign").get_attribute("data-polls"),
            timeout_seconds=10,
            what="the page's first poll",
        )
        assert _shown(driver, '[data-field="state"]') == "running"

        # The counts follow the store: each change shows within 2 s.
        lags = []
        for _ in range(3):
            before = _succeeded(front)
            seen = wait_until(
                lambda b=before: _succeeded(front) > b or None,  # type: ignore[misc]
                timeout_seconds=15,
                what="the store's succeeded count to grow",
                interval_seconds=0.02,
            )
            assert seen
            changed_at, value = time.monotonic(), _succeeded(front)
            wait_until(
                lambda v=value: _count(driver, "succeeded") >= v,  # type: ignore[misc]
                timeout_seconds=LIVE_SECONDS,
                what=f"the page to show {value} succeeded",
                interval_seconds=0.05,
            )
            lags.append(time.monotonic() - changed_at)
        print(f"\npage behind the store, seconds: {[round(lag, 3) for lag in lags]}")
        assert max(lags) < LIVE_SECONDS, lags

        # Outcomes by error code and the rejected row.
        wait_until(
            lambda: "UserNotFoundException" in _shown(driver, "#errors"),
            timeout_seconds=15,
            what="the error-code table",
        )
        rejected_line = len(GHOSTS) + USERS + 1
        assert f"{rejected_line} " in _shown(driver, "#rejects") + " "
        points = driver.find_element(By.ID, "rate-line").get_attribute("points") or ""
        assert len(points.split()) >= 30  # the store's last 30 s, then one more each second
        heights = {float(p.split(",")[1]) for p in points.split()}
        assert len(heights) > 1  # quiet seconds before the start, then calls: not flat
        shot = artifact_path("campaign-page.png")
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # Pause in the browser: the store says paused, the page too.
        _press(driver, front, "pause", then="paused")
        assert _shown(driver, '[data-field="eta"]') == "paused"
        assert driver.find_element(By.CSS_SELECTOR, 'button[data-control="pause"]').get_attribute(
            "disabled"
        )
        time.sleep(1.5)  # rows in flight finish; then nothing more is sent
        settled = _succeeded(front)
        time.sleep(2.0)
        assert _succeeded(front) == settled, "rows were still sent while paused"

        # Resume: running again, and rows are sent again.
        _press(driver, front, "resume", then="running")
        wait_until(
            lambda: _succeeded(front) > settled,
            timeout_seconds=10,
            what="rows sent after resume",
        )
        time.sleep(3)  # a few more seconds on the chart: the pause shows as a dip
        assert driver.save_screenshot(str(artifact_path("campaign-page-resumed.png")))
        _only_local(resource_urls(driver), front)


@pytest.mark.parametrize(
    ("path", "rendered"), [("/docs", ".swagger-ui .info .title"), ("/redoc", ".redoc-wrap h1")]
)
def test_api_docs_render_offline(front: Front, path: str, rendered: str) -> None:
    with headless_chromium() as driver:
        driver.get(front.url + path)
        title = wait_until(
            lambda: [e.text for e in driver.find_elements(By.CSS_SELECTOR, rendered) if e.text],
            timeout_seconds=20,
            what=f"{path} to render",
        )
        assert "cognito-courier" in title[0]
        _only_local(resource_urls(driver), front)
