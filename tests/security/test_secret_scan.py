"""No secret in clear anywhere a real deployment writes or shows it (DESIGN invariant 3).

Real processes: a private ``redis-server`` with a password, ``courier worker`` logging
JSON, ``courier api`` logging text, ``courier flower`` with a persistent state file, the
CLI (``resend``, ``verify-attribute``, ``campaign start``, ``campaign report --out``), and
the emulator over HTTP. They are driven through the attacks of this suite (forged
tokens, wrong SecretHashes, foreign idempotency keys) and ordinary work, while the Celery
event stream is read from Redis pub/sub. Then every place is scanned for every secret,
raw, base64 (standard and URL-safe, with or without padding) and hex:

Also: the worker's metrics listener binds loopback only by default
(COURIER_METRICS_ADDRESS).

- places: every Redis key and value, the Celery events, each process's log, Flower's API
  answers and its state file, ``/proc/*/cmdline`` of every process, the report, the CLI's
  outputs;
- secrets: the seal key, the API tokens (full and scoped), the Redis password, the
  Flower password, idempotency keys, an AccessToken and its signature, a SecretHash and
  the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis
from cryptography.fernet import Fernet

from tests.support.polling import wait_until
from tests.support.processes import ROOT, WorkerProcess, courier, courier_command
from tests.support.secretscan import (
    EventTap,
    Service,
    cmdlines,
    dump_redis,
    encodings,
    listening,
    literal_secret_hash_run,
    wait_http,
)
from tests.support.security import clients_file
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool
from worker.contrib.redisserver import PrivateRedis, free_port

pytestmark = pytest.mark.timeout(300)


REDIS_PASSWORD = "Rpw" + uuid.uuid4().hex


@pytest.fixture
def protected_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis(password=REDIS_PASSWORD) as server:
        yield server


def test_no_secret_in_clear_after_the_attacks(
    protected_redis: PrivateRedis, emulator: EmulatorHandle, pool: UserPool, tmp_path: Path
) -> None:
    redis_password = REDIS_PASSWORD
    seal_key = Fernet.generate_key().decode()
    full_token = "full-" + uuid.uuid4().hex
    scoped_token = "scoped-" + uuid.uuid4().hex
    flower_password = "fpw" + uuid.uuid4().hex
    idempotency_keys = [f"idem-{uuid.uuid4().hex}" for _ in range(3)]
    tokens_path = tmp_path / "api-tokens.json"
    tokens_path.write_text(
        json.dumps(
            {
                "scoped": {
                    "sha256": hashlib.sha256(scoped_token.encode()).hexdigest(),
                    "clients": "*",
                    "scopes": ["resend", "verify-attribute", "campaigns"],
                }
            }
        ),
        encoding="utf-8",
    )
    base_env = {
        **os.environ,
        "COURIER_REDIS_URL": protected_redis.url,
        "COURIER_SEAL_KEY": seal_key,
        "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
        "COURIER_CLIENTS": str(clients_file(tmp_path / "clients.json", pool)),
        "COURIER_API_TOKENS": full_token,
        "COURIER_API_TOKENS_FILE": str(tokens_path),
        "COURIER_FLOWER_BASIC_AUTH": f"ops:{flower_password}",
        "COURIER_RATE_LIMIT": "200",
        "PYTHONWARNINGS": "ignore",
    }
    api_port, flower_port = free_port(), free_port()
    tap = EventTap(protected_redis.url)
    metrics_port = free_port()
    worker_env = {
        **base_env,
        "COURIER_LOG_FORMAT": "json",
        "COURIER_METRICS_PORT": str(metrics_port),
    }
    worker = WorkerProcess("scan", worker_env, tmp_path)
    api = flower = None
    outputs: list[bytes] = []
    try:
        worker.start()
        # COURIER_METRICS_ADDRESS unset: the worker's /metrics listens on loopback only
        assert listening(metrics_port) == {"127.0.0.1"}
        api = Service("api", ["api", "--port", str(api_port)], base_env, tmp_path)
        flower_db = tmp_path / "flower-state"
        flower = Service(
            "flower",
            ["flower", "--port", str(flower_port), "--db", str(flower_db)],
            base_env,
            tmp_path,
        )
        front = f"http://127.0.0.1:{api_port}"
        wait_http(front + "/healthz")
        flower_url = f"http://127.0.0.1:{flower_port}"
        wait_http(flower_url + "/healthcheck")

        user = pool.add_user(f"scan-{uuid.uuid4().hex[:8]}", confirmed=True)
        access_token = pool.access_token(user)
        secret_hash = base64.b64encode(
            hmac.new(
                pool.client_secret.encode(),
                (user + pool.secret_client_id).encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        job_ids = []
        with httpx.Client(
            base_url=front, headers={"Authorization": f"Bearer {scoped_token}"}, timeout=30
        ) as http:
            forged = access_token.rsplit(".", 1)[0] + ".Zm9yZ2Vk"
            refused = http.post(
                "/",
                json={
                    "Action": "GetUserAttributeVerificationCode",
                    "AccessToken": forged,
                    "AttributeName": "email",
                },
            )
            assert refused.status_code == 400
            outputs.append(refused.content)
            for key, body in zip(
                idempotency_keys,
                [
                    {
                        "Action": "ResendConfirmationCode",
                        "ClientId": pool.secret_client_id,
                        "Username": user,
                        "SecretHash": secret_hash,
                    },
                    {
                        "Action": "GetUserAttributeVerificationCode",
                        "AccessToken": access_token,
                        "AttributeName": "email",
                    },
                    {
                        "Action": "ResendConfirmationCode",
                        "ClientId": pool.secret_client_id,
                        "Username": user,
                        "SecretHash": base64.b64encode(b"wrong").decode(),
                    },
                ],
                strict=True,
            ):
                answer = http.post("/", json=body, headers={"Idempotency-Key": key})
                assert answer.status_code == 202, answer.text
                outputs.append(answer.content)
                job_ids.append(answer.json()["id"])
            # another principal reusing a key: its own job, the key not confirmed
            with httpx.Client(
                base_url=front, headers={"Authorization": f"Bearer {full_token}"}, timeout=30
            ) as full:
                reused = full.post(
                    "/",
                    json={
                        "Action": "ResendConfirmationCode",
                        "ClientId": pool.client_id,
                        "Username": user,
                    },
                    headers={"Idempotency-Key": idempotency_keys[0]},
                )
                assert reused.status_code == 202
                outputs.append(reused.content)

            def finished(job_id: str) -> bool:
                state = http.get(f"/jobs/{job_id}").json()["state"]
                return state in ("succeeded", "failed", "skipped")

            for job_id in job_ids:
                wait_until(partial(finished, job_id), timeout_seconds=60, what=job_id)
                outputs.append(http.get(f"/jobs/{job_id}").content)
        token_file = tmp_path / "token.txt"
        token_file.write_text(access_token, encoding="utf-8")
        for args in (
            ["resend", "--client-id", pool.secret_client_id, "--username", user,
             "--idempotency-key", idempotency_keys[0], "--json"],
            ["verify-attribute", "--attribute-name", "email", "--access-token-file",
             str(token_file), "--json"],
        ):  # fmt: skip
            done = courier(*args, env=base_env)
            outputs.append((done.stdout + done.stderr).encode())
        from_stdin = subprocess.run(
            [*courier_command(), "resend", "--client-id", pool.secret_client_id,
             "--username", user, "--secret-hash", "-", "--wait", "--json"],
            env=base_env, cwd=ROOT, input=secret_hash + "\n", capture_output=True, text=True,
            timeout=90, check=False,
        )  # fmt: skip
        outputs.append((from_stdin.stdout + from_stdin.stderr).encode())
        assert from_stdin.returncode in (0, 1), from_stdin.stdout + from_stdin.stderr
        literal_cmdline, literal_output = literal_secret_hash_run(
            base_env, pool.secret_client_id, user, secret_hash
        )
        outputs.append(literal_output)
        names = tmp_path / "users.txt"
        names.write_text(f"{user}\nnobody-{uuid.uuid4().hex[:6]}\n", encoding="utf-8")
        started = courier(
            "campaign", "start", "--client-id", pool.client_id, "--file", str(names),
            "--json", env=base_env,
        )  # fmt: skip
        outputs.append((started.stdout + started.stderr).encode())
        campaign_id = json.loads(started.stdout)["id"]
        report = tmp_path / "report.csv"
        reported = courier(
            "campaign", "report", campaign_id, "--out", str(report), "--json", env=base_env
        )
        outputs.append((reported.stdout + reported.stderr).encode())
        assert reported.returncode == 0, reported.stdout + reported.stderr
        assert stat.S_IMODE(report.stat().st_mode) == 0o600

        flower_auth = ("ops", flower_password)
        for path in ("/api/tasks", "/api/workers", "/api/task/types"):
            answer = httpx.get(flower_url + path, auth=flower_auth, timeout=30)
            assert answer.status_code == 200, (path, answer.status_code)
            outputs.append(answer.content)
        for job_id in job_ids:
            outputs.append(
                httpx.get(f"{flower_url}/api/task/info/{job_id}", auth=flower_auth).content
            )
        places: dict[str, list[bytes]] = {"cmdline": [*cmdlines(), literal_cmdline]}
        flower.stop()  # SIGTERM: Flower saves its state
        state_files = [p for p in tmp_path.iterdir() if p.name.startswith("flower-state")]
        assert state_files, "Flower saved no state"
        for state_file in state_files:
            assert stat.S_IMODE(state_file.stat().st_mode) == 0o600, state_file
    finally:
        for service in (api, flower):
            if service is not None:
                service.stop()
        worker.stop()
        tap.close()
    places |= {
        "redis": dump_redis(redis.Redis.from_url(protected_redis.url)),
        "celery events": tap.messages,
        "worker log (json)": [worker.log_path.read_bytes()],
        "api log (text)": [api.log()],
        "flower log": [flower.log()],
        "flower state": [p.read_bytes() for p in state_files],
        "report": [report.read_bytes()],
        "answers and CLI output": outputs,
    }
    # the places hold what they should (the scan below is not over empty places)
    assert tap.messages, "no Celery events were seen"
    assert any(job_ids[0].encode() in m for m in tap.messages)
    assert any(b'"job_id"' in line for line in places["worker log (json)"])
    assert b"GET /jobs/" in places["api log (text)"][0]
    # the worker's title: Celery's own with setproctitle installed ('[celeryd: scan@...]
    # -active- (worker --hostname scan@%h ...)'), which keeps its arguments
    assert any(b"worker --hostname scan@" in c for c in places["cmdline"])
    assert any(job_ids[1].encode() in blob for blob in places["flower state"])
    assert any(pool.secret_client_id.encode() in blob for blob in places["redis"])
    assert user.encode() in places["report"][0]
    secrets = {
        "seal key": seal_key,
        "full API token": full_token,
        "scoped API token": scoped_token,
        "Redis password": redis_password,
        "Flower password": flower_password,
        "AccessToken": access_token,
        "AccessToken signature": access_token.rsplit(".", 1)[1],
        "SecretHash": secret_hash,
        "client secret": pool.client_secret,
        **{f"idempotency key {n}": key for n, key in enumerate(idempotency_keys)},
    }
    found = [
        (name, place)
        for name, secret in secrets.items()
        for place, blobs in places.items()
        if any(form in blob for form in encodings(secret) for blob in blobs)
    ]
    assert found == [], found
