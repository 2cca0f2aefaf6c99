"""``python -m worker.emulator`` (what ``courier emulator`` runs) in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from worker.emulator import EmulatorHandle


def test_cli_prints_its_endpoint_and_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "worker.emulator", "--port", "0", "--users", "10", "--json"]
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
