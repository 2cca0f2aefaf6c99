"""How many ResendConfirmationCode calls per second the emulator serves on this machine.

Run: ``.venv/bin/python -m benchmarks.emulator_capacity [--seconds 10] [--concurrency 64]``

Starts ``python -m worker.contrib.emulator`` in a subprocess with the quota and the per-user cap
off and a synthetic pool of 1,000,000 users, drives it with an aiohttp load generator
(many concurrent keep-alive requests in correct AWS JSON 1.1, a different user each call)
and prints the requests/s served. On a shared machine that figure moves with the load
of everything else, so it also prints the emulator process's own CPU time per request
(read from ``/proc/<pid>/stat``, Linux) and the rate that implies for one free core, and
the load average before the run. For scale it also prints what one thread of a plain boto3
client loop achieves against the same emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.floor import cpu_seconds
from worker.contrib.processes import stop_process

SYNTHETIC_USERS = 1_000_000
CLIENT_ID = "synthetic0client0000000001"
HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "AWSCognitoIdentityProviderService.ResendConfirmationCode",
}


@contextmanager
def emulator_process() -> Iterator[tuple[str, int]]:
    """Start the emulator in a subprocess; yield its endpoint URL and pid; stop it."""
    command = [
        sys.executable,
        "-m",
        "worker.contrib.emulator",
        "--port",
        "0",
        "--json",
        "--users",
        str(SYNTHETIC_USERS),
        "--rate-user-resource-read",
        "0",
        "--per-user-hourly-cap",
        "0",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator did not start")
        yield str(json.loads(line)["endpoint_url"]), proc.pid
    finally:
        stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()


async def drive(url: str, *, seconds: float, concurrency: int) -> tuple[int, int]:
    """(answered 200, other answers) within ``seconds``, ``concurrency`` calls at a time."""
    import aiohttp

    ok = 0
    other = 0
    counter = iter(range(1, 10**9))
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal ok, other
            while time.monotonic() < deadline:
                index = next(counter) % SYNTHETIC_USERS + 1
                body = f'{{"ClientId":"{CLIENT_ID}","Username":"user{index:07d}"}}'
                async with session.post(url, data=body, headers=HEADERS) as response:
                    await response.read()
                    if response.status == 200:
                        ok += 1
                    else:
                        other += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, other


def boto3_loop(url: str, *, seconds: float) -> int:
    """Calls one thread of a plain boto3 client completes in ``seconds``."""
    from worker.contrib.emulator import EmulatorHandle

    client = EmulatorHandle(url).client()
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done += 1
        client.resend_confirmation_code(ClientId=CLIENT_ID, Username=f"user{done:07d}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--boto3-seconds", type=float, default=3.0)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} before the run")
    with emulator_process() as (url, pid):
        ok, other = asyncio.run(drive(url, seconds=1.0, concurrency=args.concurrency))  # warm-up
        cpu_before = cpu_seconds(pid)
        ok, other = asyncio.run(drive(url, seconds=args.seconds, concurrency=args.concurrency))
        cpu_after = cpu_seconds(pid)
        rate = ok / args.seconds
        print(
            f"emulator (aiohttp load, {args.concurrency} concurrent, {args.seconds:.0f} s): "
            f"{rate:,.0f} requests/s served ({ok:,} ok, {other:,} other)"
        )
        per_core: float | None = None
        if cpu_before is not None and cpu_after is not None and ok + other:
            per_request = (cpu_after - cpu_before) / (ok + other)
            per_core = 1 / per_request
            print(
                f"emulator CPU per request: {per_request * 1e6:,.0f} us, "
                f"i.e. {1 / per_request:,.0f} requests/s on one free core"
            )
        done = boto3_loop(url, seconds=args.boto3_seconds)
        print(
            f"bare boto3 client loop (1 thread, {args.boto3_seconds:.0f} s): "
            f"{done / args.boto3_seconds:,.0f} requests/s"
        )
    goal = 2000
    verdict = "met" if rate >= goal else "NOT met"
    if rate < goal and per_core is not None and per_core >= goal:
        verdict = "met on one free core; NOT met as served here (a loaded machine)"
    print(f"goal {goal:,}/s: {verdict}")


if __name__ == "__main__":
    main()
