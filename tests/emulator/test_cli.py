"""``python -m worker.contrib.emulator`` (what ``courier emulator`` runs) in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from worker.contrib.emulator import EmulatorHandle


def test_cli_prints_its_endpoint_and_serves_until_sigterm() -> None:
    command = [
        sys.executable,
        "-m",
        "worker.contrib.emulator",
        "--port",
        "0",
        "--users",
        "10",
        "--json",
    ]
    command += ["--seed", "3", "--rate-user-resource-read", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        document = json.loads(proc.stdout.readline())
        try:
            assert document["endpoint_url"].startswith("http://127.0.0.1:")
            (pool,) = document["pools"]
            assert pool["id"] == "us-east-1_Synthetic1"
            assert [c["id"] for c in pool["clients"]] == [
                "synthetic0client0000000001",
                "synthetic0client0000000002",
            ]
            handle = EmulatorHandle.connect(document["endpoint_url"])
            assert handle.config()["user_resource_read_per_second"] is None
            handle.client().resend_confirmation_code(
                ClientId="synthetic0client0000000001", Username="user0000010"
            )
            assert len(handle.deliveries("user0000010")) == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            proc.stdout.close()


def test_cli_scripts_answers_at_start_and_refuses_bad_ones() -> None:
    command = [
        sys.executable,
        "-m",
        "worker.contrib.emulator",
        "--port",
        "0",
        "--users",
        "3",
        "--json",
    ]
    scripted = [*command, "--script", "ResendConfirmationCode=@daily-email-limit*2"]
    with subprocess.Popen(scripted, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        document = json.loads(proc.stdout.readline())
        try:
            cognito = EmulatorHandle.connect(document["endpoint_url"]).client()
            for _ in range(2):
                with pytest.raises(ClientError, match="Exceeded daily email limit"):
                    cognito.resend_confirmation_code(
                        ClientId="synthetic0client0000000001", Username="user0000001"
                    )
            cognito.resend_confirmation_code(
                ClientId="synthetic0client0000000001", Username="user0000001"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            proc.stdout.close()
    for bad, message in [
        ("no-equals-sign", "is not OPERATION=ENTRY"),
        ("Nope=@throttled", "unknown operation"),
    ]:
        done = subprocess.run(
            [*command, "--script", bad], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2
        assert message in done.stderr
