"""Managed Redis as it really is: TLS with a private CA and an ACL user, end to end.

A real ``redis-server`` serves TLS only (``--port 0 --tls-port P``) with a certificate
authority and a server certificate made for the test, and an ACL user with a password
(the ``default`` user is off). A real ``courier worker`` process, the CLI (``courier
resend --wait``, ``courier campaign start|status``, ``courier limit show``) and the
emulator over HTTP run a job and a small campaign through it; nothing plain-text is
listening, so every command that worked went over TLS.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.certs import make_tls_files
from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess, courier, serving
from tests.support.synthetic import CLIENT_ID, SEAL_KEY
from worker.broker.tls import redis_tls_options
from worker.contrib.redisserver import PrivateRedis, TlsFiles, free_port

PASSWORD = "tls-Secret-p4ss"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a server certificate for ``localhost`` / ``127.0.0.1``."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_redis(tls_files: TlsFiles) -> Iterator[PrivateRedis]:
    """A TLS-only ``redis-server`` with the ACL user ``courier``."""
    with PrivateRedis(tls=tls_files, username="courier", password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """``courier emulator --users 30`` as a process."""
    emulator = EmulatorProcess(tmp_path_factory.mktemp("logs") / "emulator.log", ["--users", "30"])
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def tls_env(tls_redis: PrivateRedis, emulator_process: EmulatorProcess) -> dict[str, str]:
    """The environment of every courier process in this module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env.update(
        {
            "COURIER_REDIS_URL": tls_redis.url,
            "COURIER_COGNITO_ENDPOINT_URL": emulator_process.endpoint_url,
            "COURIER_SEAL_KEY": SEAL_KEY,
            "COURIER_RETRY_BASE_SECONDS": "0.05",
            "AWS_ACCESS_KEY_ID": "tls-test",
            "AWS_SECRET_ACCESS_KEY": "tls-test",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def system_ca_env(tls_env: dict[str, str], tls_files: TlsFiles) -> dict[str, str]:
    """The plain ``rediss://user:pass@host:port/0`` form, the test CA as the system's.

    OpenSSL's default verify paths honour ``SSL_CERT_FILE``: the processes trust the test
    CA as they would trust a public one, with no TLS parameter in the URL.
    """
    plain = tls_env["COURIER_REDIS_URL"].split("?", 1)[0]
    return {**tls_env, "COURIER_REDIS_URL": plain, "SSL_CERT_FILE": str(tls_files.ca_file)}


@pytest.fixture(scope="module")
def tls_worker(
    system_ca_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real ``courier worker`` on the TLS Redis (plain ``rediss://`` URL), ready."""
    worker = WorkerProcess(
        "tls", system_ca_env, tmp_path_factory.mktemp("worker-logs"), ["-c", "4"]
    )
    worker.start(wait_ready_seconds=90)
    yield worker
    worker.stop()


def _json(result: Any) -> dict[str, Any]:
    assert result.stdout, f"no output (exit {result.returncode}): {result.stderr[-2000:]}"
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_url_is_tls_with_a_private_ca_and_an_acl_user(tls_redis: PrivateRedis) -> None:
    url = tls_redis.url
    assert url.startswith("rediss://courier:")
    assert "ssl_cert_reqs=required" in url
    assert "ssl_ca_certs=" in url
    assert redis.Redis.from_url(url).ping()
    # Without the private CA the certificate is refused: verification is on.
    without_ca = url.split("?", 1)[0]
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        redis.Redis.from_url(without_ca, socket_connect_timeout=2).ping()
    # Plain TCP on the TLS port gets no answer a Redis client accepts.
    plain = without_ca.replace("rediss://", "redis://", 1)
    with pytest.raises(redis.RedisError):
        redis.Redis.from_url(plain, socket_connect_timeout=2, socket_timeout=2).ping()
    # A wrong password is refused.
    wrong = url.replace(PASSWORD, "not-the-password")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(wrong).ping()


def test_a_job_over_tls_end_to_end(
    system_ca_env: dict[str, str], tls_worker: WorkerProcess, tls_redis: PrivateRedis
) -> None:
    # The worker and this producer use the plain rediss:// form (system CAs); the
    # campaign test's producer uses the private-CA query form against the same worker.
    result = courier(
        "resend",
        "--client-id",
        CLIENT_ID,
        "--username",
        "user0000001",
        "--wait",
        "--json",
        env=system_ca_env,
        timeout_seconds=90,
    )
    document = _json(result)
    assert result.returncode == 0, document
    assert document["state"] == "succeeded"
    assert document["delivery"]["DeliveryMedium"] in ("EMAIL", "SMS")
    # The status document lives on the TLS server.
    client = redis.Redis.from_url(tls_redis.url)
    assert any(document["id"] in key.decode() for key in client.scan_iter(match="courier:*"))
    assert PASSWORD not in tls_worker.log()


def test_a_campaign_over_tls_end_to_end(
    tls_env: dict[str, str], tls_worker: WorkerProcess, tmp_path: Path
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("\n".join(f"user{n:07d}" for n in range(10, 30)) + "\n", encoding="utf-8")
    started = _json(
        courier(
            "campaign",
            "start",
            "--client-id",
            CLIENT_ID,
            "--file",
            str(users),
            "--json",
            env=tls_env,
            timeout_seconds=90,
        )
    )
    assert started["total"] == 20, started

    def status() -> dict[str, Any]:
        return _json(courier("campaign", "status", started["id"], "--json", env=tls_env))

    document = _poll(status, lambda doc: doc["state"] == "done", timeout_seconds=90)
    assert document["counts"]["succeeded"] == 20, document
    limits = courier("limit", "show", "--json", env=tls_env)
    assert limits.returncode == 0, limits.stderr[-2000:]
    assert PASSWORD not in limits.stdout + limits.stderr


def _poll(
    read: Callable[[], dict[str, Any]],
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout_seconds: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    document = read()
    while not done(document):
        assert time.monotonic() < deadline, f"not done after {timeout_seconds} s: {document}"
        time.sleep(0.5)
        document = read()
    return document


def test_tls_options_follow_the_url_forms_redis_py_and_celery_document(
    tls_files: TlsFiles,
) -> None:
    assert redis_tls_options("redis://localhost:6379/0") is None
    assert redis_tls_options("rediss://u:p@cache.example:6380/0") == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED  # plain rediss://: the system's CAs, verified
    }
    ca = str(tls_files.ca_file)
    assert redis_tls_options(f"rediss://h:6380/0?ssl_cert_reqs=required&ssl_ca_certs={ca}") == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": ca,
    }
    assert redis_tls_options("rediss://h/0?ssl_cert_reqs=CERT_NONE") == {
        "ssl_cert_reqs": ssl.CERT_NONE
    }
    with pytest.raises(ValueError, match="ssl_cert_reqs='sometimes'"):
        redis_tls_options("rediss://h/0?ssl_cert_reqs=sometimes")
    with pytest.raises(ValueError, match=r"ssl_ca_certs='/no/such/ca\.pem' is not a readable"):
        redis_tls_options("rediss://h/0?ssl_ca_certs=/no/such/ca.pem")
    with pytest.raises(ValueError, match="ssl_keyfile needs ssl_certfile"):
        redis_tls_options(f"rediss://h/0?ssl_keyfile={ca}")


def test_celery_gets_the_tls_options_and_a_bad_url_is_named_without_its_password() -> None:
    from worker.app import _config
    from worker.errors import ConfigurationError
    from worker.settings import load_settings

    settings = load_settings(redis_url="rediss://app:s3cret@cache.example:6380/0")
    config = _config(settings)
    assert config["broker_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert config["redis_backend_use_ssl"] == {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert _config(load_settings(redis_url="redis://localhost/0"))["broker_use_ssl"] is None
    with pytest.raises(ConfigurationError) as caught:
        load_settings(redis_url="rediss://app:s3cret@cache.example:6380/0?ssl_cert_reqs=maybe")
    assert "COURIER_REDIS_URL" in str(caught.value)
    assert "ssl_cert_reqs" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_flower_over_tls_sees_the_jobs_and_the_queues(
    tls_env: dict[str, str], tls_worker: WorkerProcess, tmp_path: Path
) -> None:
    # Flower on the private-CA URL form; the worker on the plain form (system CAs).
    port = free_port()
    user, password = "ops", "flower-Tls-9"
    env = {**tls_env, "COURIER_FLOWER_BASIC_AUTH": f"{user}:{password}"}
    args = ["flower", "--port", str(port), "--db", str(tmp_path / "flower.db")]
    log_path = tmp_path / "flower.log"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    def get(url: str) -> Any:
        request = urllib.request.Request(url, headers=auth)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    with serving(args, env=env, log_path=log_path, health_path="/healthcheck", port=port) as url:
        wait_until(lambda: get(f"{url}/api/workers"), timeout_seconds=60, what="Flower's workers")
        job = _json(
            courier(
                "resend",
                "--client-id",
                CLIENT_ID,
                "--username",
                "user0000002",
                "--wait",
                "--json",
                env=tls_env,
                timeout_seconds=90,
            )
        )
        assert job["state"] == "succeeded", job
        task = wait_until(
            lambda: get(f"{url}/api/tasks").get(job["id"], {}).get("state") == "SUCCESS",
            timeout_seconds=30,
            what="the job as SUCCESS in Flower",
        )
        assert task
        # Flower reads queue lengths from the broker itself (its own Redis connection).
        queues = get(f"{url}/api/queues/length")
        assert {q["name"] for q in queues["active_queues"]} >= {"interactive", "bulk"}
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert password not in text
    assert PASSWORD not in text
