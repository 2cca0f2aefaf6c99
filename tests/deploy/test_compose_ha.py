"""The compose ``ha`` profile as docker-compose renders it: a replica and three sentinels wired.

``docker-compose --profile ha config`` (installed by .ci/run; ``docker compose`` where
that is what the machine has) must accept the file, and the rendered services must hold
what the README and docs/deploy.md promise: ``redis-replica`` replicating ``redis``, and
``sentinel-1..3`` (the YAML anchor expanded) each monitoring ``redis:6379`` as service
``courier`` with quorum 2, on port 26379, started after both data nodes. The profile's
sentinel URL is one the settings accept.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import yaml

from tests.support.deployfiles import ROOT, missing_tool
from worker.settings import load_settings

SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
SENTINEL_URL = "sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/courier/0"


def _rendered() -> dict[str, Any] | None:
    """The ``ha`` profile's services as docker-compose renders them (None: no tool)."""
    for command in (["docker-compose"], ["docker", "compose"]):
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run(
            [*command, "-f", str(ROOT / "docker-compose.yml"), "--profile", "ha", "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if command == ["docker", "compose"] and "is not a docker command" in done.stderr:
            continue
        assert done.returncode == 0, done.stderr
        services: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
        return services
    return None


def test_compose_ha_profile_renders_a_replica_and_three_sentinels() -> None:
    services = _rendered()
    if services is None:
        missing_tool("neither `docker-compose` nor `docker compose` is installed")
        return
    in_profile = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    assert in_profile == {"redis-replica", *SENTINELS}
    replica = services["redis-replica"]
    assert replica["command"][-3:] == ["--replicaof", "redis", "6379"], replica["command"]
    assert "redis" in replica["depends_on"]
    for name in SENTINELS:
        sentinel = services[name]
        assert sentinel["entrypoint"] == ["sh", "-c"], name
        lines = [line.strip() for line in sentinel["command"][0].splitlines() if line.strip()]
        assert "port 26379" in lines, (name, lines)
        assert "sentinel monitor courier redis 6379 2" in lines, (name, lines)
        assert any(line.startswith("sentinel down-after-milliseconds courier ") for line in lines)
        assert lines[-1] == "exec redis-server /tmp/sentinel.conf --sentinel", (name, lines)
        assert set(sentinel["depends_on"]) == {"redis", "redis-replica"}, name
        assert "26379" in sentinel["healthcheck"]["test"], name
    assert services["redis"].get("profiles") is None  # the data node runs without the profile
    assert load_settings(redis_url=SENTINEL_URL).redis_target.sentinel is not None
