"""``/ui`` without its slash, on a real ``courier api``: 308 to ``/ui/``, for GET and HEAD."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import serving_api
from tests.support.stack import stack_env
from worker.contrib.redisserver import PrivateRedis

TOKEN = "ui-redirect-token-3b9f1e"


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("ui-redirect")
    with PrivateRedis() as server:
        env = stack_env(server.url, "http://127.0.0.1:9", api_tokens=TOKEN)
        with serving_api(env, log_path=Path(logs) / "api.log") as url:
            yield url


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_ui_without_its_slash_goes_to_the_campaigns_page(front: str, method: str) -> None:
    answer = httpx.request(method, f"{front}/ui", headers={"Host": "evil.example"})
    assert answer.status_code == 308
    assert answer.headers["location"] == "/ui/"  # a path: never the Host header's name


def test_following_it_reaches_the_page(front: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = httpx.get(f"{front}/ui", headers=auth, follow_redirects=True)
    assert page.status_code == 200
    assert str(page.url) == f"{front}/ui/"
    assert page.headers["content-type"].startswith("text/html")
    anonymous = httpx.get(f"{front}/ui", follow_redirects=True)  # then to the login form
    assert anonymous.status_code == 200
    assert str(anonymous.url) == f"{front}/ui/login"


def test_other_paths_still_do_not_redirect(front: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{front}/jobs/abc/", headers=auth).status_code == 404
    assert httpx.get(f"{front}/ui/campaigns", headers=auth).status_code == 404
