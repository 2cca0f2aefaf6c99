"""A headless Chromium for the tests (Debian's ``chromium`` and ``chromium-driver``, driven
by selenium), kept off the internet: every host name but 127.0.0.1 fails to resolve."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

__all__ = ["artifact_path", "headless_chromium", "resource_urls"]

ROOT = Path(__file__).resolve().parents[2]


def _binaries() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        message = (
            "needs Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs them (.ci/run): missing there is a failure
        pytest.skip(message)
    return browser, driver


@contextmanager
def headless_chromium(*, width: int = 1200, height: int = 1400) -> Iterator[webdriver.Chrome]:
    """A headless Chromium whose requests can reach only 127.0.0.1 (no DNS, no proxy)."""
    browser, driver_path = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def resource_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the current page loaded (the document, scripts, styles, fetches)."""
    found = driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource')"
        ".map(function (e) { return e.name; }));"
    )
    return [str(url) for url in cast("list[Any]", found)]


def artifact_path(name: str) -> Path:
    """Where a test keeps an artifact: ``$CI_ARTIFACTS/name``, else .pytest_cache/name."""
    folder = Path(os.environ.get("CI_ARTIFACTS") or ROOT / ".pytest_cache")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
