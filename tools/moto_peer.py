"""moto's cognito-idp tests as a peer check of ``courier emulator`` (not run in CI: it runs
fetched code).

Usage::

    tools/moto_peer.py --moto /tmp/moto --python /tmp/motovenv/bin/python [-k EXPR]

``--moto`` is a moto checkout (its ``tests/test_cognitoidp``); ``--python`` an interpreter
with moto (server extra), pytest and boto3 installed. The script starts one emulator
(``python -m worker.contrib.emulator --port 0 --json``, account quotas off), runs the
suite in moto's server mode (``TEST_SERVER_MODE=true``,
``TEST_SERVER_MODE_ENDPOINT=<emulator url>``, so moto's mock is off and every boto3 call
goes over HTTP to the emulator; no state reset between tests) and prints pass / fail /
skip counts and the failures by cause: an operation the emulator does not serve
(UnknownOperationException), USER_SRP_AUTH, or other (read the per-case lines).
Exit status 0 when the run completed, whatever the counts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cause(text: str) -> str:
    unknown = re.search(r"Unknown operation AWSCognitoIdentityProviderService\.(\w+)", text)
    if unknown or "UnknownOperationException" in text:
        return "operation not served" + (f": {unknown.group(1)}" if unknown else "")
    if "USER_SRP_AUTH" in text or "SRP_A" in text:
        return "USER_SRP_AUTH"
    code = re.search(r"An error occurred \((\w+)\)", text)
    return f"other: {code.group(1)}" if code else "other: assertion or client-side"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto", type=Path, required=True, help="moto checkout")
    parser.add_argument("--python", default=sys.executable, help="interpreter with moto")
    parser.add_argument("-k", default=None, help="pytest -k expression")
    parser.add_argument("--file", default="tests/test_cognitoidp/test_cognitoidp.py")
    parser.add_argument(
        "--messages", action="store_true", help="print each failure's message under its line"
    )
    args = parser.parse_args()
    command = [sys.executable, "-m", "worker.contrib.emulator", "--port", "0", "--json"]
    command += ["--rate-user-resource-read", "0", "--rate-user-list", "0"]
    emulator = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert emulator.stdout is not None
        url = json.loads(emulator.stdout.readline())["endpoint_url"]
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "junit.xml"
            pytest = [args.python, "-m", "pytest", args.file, "-q", "-p", "no:cacheprovider"]
            pytest += [f"--junitxml={report}", "-o", "addopts="]
            if args.k:
                pytest += ["-k", args.k]
            env = {
                **os.environ,
                "TEST_SERVER_MODE": "true",
                "TEST_SERVER_MODE_ENDPOINT": url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            subprocess.run(  # noqa: S603 - the interpreter the operator named
                pytest, cwd=args.moto, env=env, check=False, capture_output=True
            )
            cases = ET.parse(report).getroot().iter("testcase")  # noqa: S314 - our own report
            counts: Counter[str] = Counter()
            causes: Counter[str] = Counter()
            for case in cases:
                failure = case.find("failure")
                if failure is None:
                    failure = case.find("error")
                if case.find("skipped") is not None:
                    counts["skipped"] += 1
                elif failure is not None:
                    counts["failed"] += 1
                    cause = _cause((failure.get("message") or "") + (failure.text or ""))
                    causes[cause] += 1
                    print(f"FAIL {case.get('name')}: {cause}")
                    if args.messages:
                        print("    " + (failure.get("message") or "").replace("\n", " ")[:300])
                else:
                    counts["passed"] += 1
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=10)
    print(json.dumps({"counts": dict(counts), "failures_by_cause": dict(causes.most_common())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
