"""The settings object: defaults, environment, and a clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigurationError
from worker.settings import load_settings


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COURIER_REDIS_URL", "COURIER_COGNITO_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.cognito_endpoint_url is None
    assert settings.cognito_region is None  # worker.identity.regions resolves it, on workers only
    assert settings.clients is None
    assert settings.rate_limit == 40
    assert settings.bulk_share == 0.8
    assert settings.status_ttl_seconds == 7 * 24 * 3600
    assert settings.api_tokens == []


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_RATE_LIMIT", "12.5")
    monkeypatch.setenv("COURIER_BULK_SHARE", "0.5")
    monkeypatch.setenv("COURIER_COGNITO_ENDPOINT_URL", "http://127.0.0.1:9229/")
    monkeypatch.setenv("COURIER_API_TOKENS", "one, two,,")
    settings = load_settings()
    assert settings.rate_limit == 12.5
    assert settings.bulk_share == 0.5
    assert settings.cognito_endpoint_url == "http://127.0.0.1:9229"
    assert [t.get_secret_value() for t in settings.api_tokens] == ["one", "two"]


def test_region_variables_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_COGNITO_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    settings = load_settings()
    assert (settings.cognito_region, settings.aws_region) == ("eu-west-1", "ap-south-1")
    monkeypatch.setenv("COURIER_COGNITO_REGION", "Europe")
    with pytest.raises(ConfigurationError, match=r"COURIER_COGNITO_REGION.*'Europe'"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COURIER_RATE_LIMIT", "0", "COURIER_RATE_LIMIT"),
        ("COURIER_RATE_LIMIT", "-3", "COURIER_RATE_LIMIT"),
        ("COURIER_RATE_LIMIT", "fast", "COURIER_RATE_LIMIT"),
        ("COURIER_BULK_SHARE", "1.5", "COURIER_BULK_SHARE"),
        ("COURIER_REDIS_URL", "http://nope", "COURIER_REDIS_URL"),
        ("COURIER_COGNITO_ENDPOINT_URL", "localhost:9229", "COURIER_COGNITO_ENDPOINT_URL"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()


def test_unreadable_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"COURIER_CLIENT_SECRETS.*cannot read"):
        load_settings(client_secrets=tmp_path / "missing.json")


def test_malformed_secrets_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="JSON object"):
        load_settings(client_secrets=path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not JSON"):
        load_settings(client_secrets=path)


def test_visibility_timeout_must_cover_the_longest_task() -> None:
    with pytest.raises(ConfigurationError, match="VISIBILITY_TIMEOUT"):
        load_settings(visibility_timeout_seconds=60, retry_max_seconds=120)


def test_concurrency_is_sized_from_the_budget() -> None:
    assert load_settings(rate_limit=40).concurrency == 10
    assert load_settings(rate_limit=1).concurrency == 4
    assert load_settings(rate_limit=1000).concurrency == 64
    assert load_settings(worker_concurrency=3).concurrency == 3
