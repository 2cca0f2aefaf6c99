"""COURIER_REDIS_URL parsing (worker.broker.urls): every accepted form, every refusal named,
and no refusal ever showing the URL's user information."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from worker.broker.urls import NOT_A_URL, parse_redis_url
from worker.errors import ConfigurationError
from worker.settings import load_settings


def test_one_endpoint_forms() -> None:
    plain = parse_redis_url("redis://app:s%2Fcret@cache.internal:6380/3")
    assert (plain.scheme, plain.db, plain.username, plain.password) == ("redis", 3, "app", "s/cret")
    assert plain.sentinel is None
    assert plain.tls is None
    assert plain.kombu_url() == "redis://app:s%2Fcret@cache.internal:6380/3"
    assert "s%2Fcret" not in plain.masked
    assert "s/cret" not in repr(plain)
    unix = parse_redis_url("unix:///run/redis.sock?db=2")
    assert (unix.scheme, unix.db) == ("unix", 2)
    tls = parse_redis_url("rediss://cache:6380/0")
    assert tls.tls == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_sentinel_forms() -> None:
    target = parse_redis_url(
        "sentinel://:data%40pw@10.0.0.1:26379,sentinel-b,[::1]:26381/courier/2",
        sentinel_password="own",
    )
    assert target.sentinel is not None
    assert target.sentinel.service_name == "courier"
    assert target.sentinel.sentinels == (("10.0.0.1", 26379), ("sentinel-b", 26379), ("::1", 26381))
    assert (target.db, target.username, target.password) == (2, None, "data@pw")
    assert target.sentinel_kwargs() == {"password": "own"}
    assert target.kombu_url() == (
        "sentinel://:data%40pw@10.0.0.1:26379/2;sentinel://:data%40pw@sentinel-b:26379/2;"
        "sentinel://:data%40pw@[::1]:26381/2"
    )
    assert "data" not in repr(target)
    assert "own" not in repr(target)
    assert parse_redis_url("sentinel://s1:26379/mymaster").db == 0


def test_sentinels_tls_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    target = parse_redis_url(f"sentinels://s1:26379,s2:26379/courier?ssl_ca_certs={ca}")
    assert target.tls == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(ca)}
    assert target.sentinel_kwargs() == {
        "ssl": True,
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": str(ca),
    }
    with pytest.raises(ValueError, match="sentinels:// URL: ssl_cert_reqs='maybe'"):
        parse_redis_url("sentinels://s1/courier?ssl_cert_reqs=maybe")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sentinel://s1:26379", "needs the service name"),
        ("sentinel://s1:26379/", "needs the service name"),
        ("sentinel://s1:26379/courier/x", "the database 'x' is not a number"),
        ("sentinel://s1:26379/courier/0/extra", "path is /<service_name>"),
        ("sentinel://s1:99999/courier", "port 99999 is not from 1 to 65535"),
        ("sentinel://s1:26379,,s2/courier", "each sentinel is host:port"),
        ("sentinel://s1/co urier", "service name must be"),
        ("sentinel://s1/courier?ssl_cert_reqs=none", "takes no query options"),
        ("memcached://s1:11211", "is not one of redis://"),
        # a host and port mistaken: what is wrong, and an example to copy
        ("127.0.0.1:6390", "COURIER_REDIS_URL has no scheme: write redis://host:port/db"),
        ("localhost", "COURIER_REDIS_URL has no scheme: write redis://host:port/db"),
        ("redis:/localhost:6390/0", "the scheme needs two slashes: write redis://host:port/db"),
        ("redis://localhost:redis/0", "the port after the host is not a number"),
        ("redis://localhost:/0", "the port after the host is not a number"),
        ("redis://localhost:99999/0", "the port is not from 1 to 65535"),
        ("rediss://cache:6390:6391/0", "more than one ':' after the host"),
        ("redis://::1:6390/0", "an IPv6 address goes in brackets"),
        ("redis://local host:6390/0", "the host is not a host name or an IP address"),
    ],
)
def test_refusals_name_the_part(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="COURIER_REDIS_URL") as caught:
        parse_redis_url(url)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "url", ["127.0.0.1:6390", "redis:/h:6390/0", "redis://h:x/0", "redis://h:0/0", "redis://h h"]
)
def test_a_host_and_port_mistake_comes_with_an_example(url: str) -> None:
    with pytest.raises(ValueError, match=r"\(for example redis://127\.0\.0\.1:6379/0\)"):
        parse_redis_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:Sekr3t/PW@127.0.0.1:6390/0",
        "redis://:Sek#r3t@127.0.0.1:6390/0",
        "redis://:Se?kr3t@127.0.0.1:6390/0",
        "sentinel://:Sekr3t/PW@127.0.0.1:26379/courier",
        "sentinel://:Se#kr3t@127.0.0.1:26379/courier",
        "sentinels://u:Sek?r3t@127.0.0.1:26379/courier",
        "not a url at all Sekr3t",
    ],
)
def test_malformed_urls_say_nothing_of_the_userinfo(url: str) -> None:
    with pytest.raises(ValueError, match="COURIER_REDIS_URL") as caught:
        parse_redis_url(url)
    text = str(caught.value)
    assert "Sekr" not in text
    assert "PW" not in text
    assert "3t" not in text
    with pytest.raises(ConfigurationError) as configured:
        load_settings(redis_url=url)
    assert "Sekr" not in str(configured.value)
    assert "3t" not in str(configured.value)
    assert "COURIER_REDIS_URL" in str(configured.value)


def test_unencoded_slash_gets_the_documented_message() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(redis_url="redis://:Sekr3t/PW@127.0.0.1:6390/0")
    assert NOT_A_URL in str(caught.value)


def test_settings_carry_the_sentinel_password() -> None:
    settings = load_settings(
        redis_url="sentinel://a:26379,b:26380/courier", redis_sentinel_password="own"
    )
    sentinel = settings.redis_target.sentinel
    assert sentinel is not None
    assert sentinel.password == "own"
    assert "own" not in repr(settings.redis_target)


@pytest.mark.parametrize(
    "url",
    [
        "redis://cache:6390?db=2",
        "rediss://:pw@cache:6390?ssl_cert_reqs=none",
        "redis://[::1]:6390/0",
    ],
)
def test_a_query_after_the_port_and_bracketed_v6_are_fine(url: str) -> None:
    parse_redis_url(url)


def test_a_password_where_the_port_goes_is_not_quoted() -> None:
    with pytest.raises(ValueError, match="the port after the host is not a number") as caught:
        parse_redis_url("redis://default:Sekr3tPW/0")  # the "@host" forgotten
    assert "Sekr" not in str(caught.value)


def test_settings_name_the_variable_once_without_pydantics_prefix() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(redis_url="127.0.0.1:6390")
    message = str(caught.value)
    assert message.startswith(
        "invalid configuration: COURIER_REDIS_URL has no scheme: write redis://host:port/db"
    )
    assert "Value error" not in message
    assert message.count("COURIER_REDIS_URL") == 1
    with pytest.raises(ConfigurationError) as other:  # a message without the name gets it
        load_settings(rate_limit=-5)
    assert "COURIER_RATE_LIMIT: " in str(other.value)
