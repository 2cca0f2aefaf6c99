"""Flower with the project's configuration: authenticated, read-only, a day of history.

``courier flower`` (:mod:`worker.cli.flower`) and ``deploy/flower/flowerconfig.py`` (for
``celery -A worker.app flower --conf=...``) both use :func:`flower_options` and
:func:`harden_flower`, so Flower runs the same way whichever starts it:

* **Basic auth** from ``COURIER_FLOWER_BASIC_AUTH`` (``user:password``, comma-separated
  for several) on every page and API, **and on** ``/metrics``: Flower 2.2 serves its
  ``/metrics`` without auth, so :func:`harden_flower` puts it behind the same check.
  ``/healthcheck`` stays open (it answers ``OK`` and nothing else; probes use it).
* **Read-only.** Flower's ``read_only`` option hides the control buttons and refuses the
  worker control API, but not the task API (``/api/task/async-apply``, ``send-task``,
  ``apply``, ``abort``, ``revoke``, ``timeout``, ``rate-limit``), which would enqueue
  jobs without a status document or revoke one and leave its document ``queued`` for
  ever. :func:`harden_flower` removes every control and task-writing route from Flower's
  URL table before the app is built: they answer 404. Reading routes stay (``/api/tasks``,
  ``/api/task/info``, ``/api/workers``, ``/api/queues/length``, ``/api/task/types``).
* **History for a day at the budget**: ``max_tasks = COURIER_RATE_LIMIT x 86,400`` by
  default (3,456,000 at 40/s). Measured: Flower holds about 3 KB per task in memory, so a
  full day at 40/s is about 10 GB; ``--history-hours`` trades history for memory.
* **Persistent state** (``--persistent --db=PATH``): saved when Flower stops (SIGTERM)
  and, with ``--state_save_interval``, periodically. Flower writes it to a new file
  (``shelve``, flag ``n``) and renames it onto PATH; :func:`harden_flower` sets the
  process umask to 077, so the state file (task names, ids, results) is created 0600,
  readable by Flower's user only. A save pickles the whole history
  while Flower answers nothing (measured ~0.14 ms per task on the 2-core CI machine), so
  the periodic save is off by default.

Job arguments reach Flower already redacted (the producer's ``kwargsrepr``: ``<sealed>``).
"""

from __future__ import annotations

import math
import os
from typing import Any

from worker.errors import ConfigurationError
from worker.settings import Settings

__all__ = [
    "REMOVED_ROUTES",
    "TASK_COLUMNS",
    "flower_argv",
    "flower_options",
    "harden_flower",
    "history_tasks",
]

TASK_COLUMNS = "name,uuid,state,args,kwargs,result,exception,received,started,runtime,worker"
"""Flower's task list columns: ``args`` shows a campaign task's campaign id, ``result`` a
job's outcome (``succeeded``, ``skipped: ...``), ``exception`` a failed job's code."""

REMOVED_ROUTES = (
    "/api/worker/",
    "/api/task/apply/",
    "/api/task/async-apply/",
    "/api/task/send-task/",
    "/api/task/abort/",
    "/api/task/timeout/",
    "/api/task/rate-limit/",
    "/api/task/revoke/",
)
"""Prefixes of the Flower routes :func:`harden_flower` removes (control and task writes)."""

_SECONDS_PER_HOUR = 3600


def history_tasks(settings: Settings, *, hours: float) -> int:
    """Tasks Flower keeps: ``hours`` of history at the budget (COURIER_RATE_LIMIT)."""
    if hours <= 0:
        raise ConfigurationError(f"history hours must be positive, not {hours:g}")
    return max(1000, math.ceil(settings.rate_limit * hours * _SECONDS_PER_HOUR))


def flower_options(
    settings: Settings,
    *,
    dev: bool = False,
    history_hours: float = 24.0,
    db: str = "flower.db",
    save_interval_seconds: float = 0.0,
) -> dict[str, Any]:
    """Flower's (tornado) options for the project, by option name.

    Raises:
        ConfigurationError: COURIER_FLOWER_BASIC_AUTH is not set and ``dev`` is False, or
            a value is out of range.
    """
    if save_interval_seconds < 0:
        raise ConfigurationError("the state save interval cannot be negative")
    options: dict[str, Any] = {
        "persistent": True,
        "db": db,
        "state_save_interval": int(save_interval_seconds * 1000),  # Flower counts ms
        "max_tasks": history_tasks(settings, hours=history_hours),
        "max_workers": 500,
        "purge_offline_workers": 600,  # seconds before a stopped worker leaves the list
        "read_only": True,
        "tasks_columns": TASK_COLUMNS,
        "xheaders": True,  # behind an ingress or a reverse proxy, trust X-Forwarded-*
    }
    secret = settings.flower_basic_auth
    if secret is not None:
        pairs = [p.strip() for p in secret.get_secret_value().split(",") if p.strip()]
        options["basic_auth"] = pairs
    elif not dev:
        raise ConfigurationError(
            "COURIER_FLOWER_BASIC_AUTH is not set: give it as user:password (comma-separated "
            "for several), or run `courier flower --dev` for a local, unauthenticated look"
        )
    return options


def flower_argv(options: dict[str, Any]) -> list[str]:
    """``options`` as Flower's command-line arguments (``--name=value``: tornado's form)."""
    argv = []
    for name, value in options.items():
        shown = ",".join(str(item) for item in value) if isinstance(value, list) else value
        argv.append(f"--{name}={shown}")
    return argv


def harden_flower() -> None:
    """Remove Flower's control and task-writing routes; put ``/metrics`` behind its auth;
    give Flower's process kombu's plain Redis transport (:func:`_plain_broker_transport`)
    and a umask of 077 (its state file is created 0600).

    Edits Flower's URL table in place (``flower.urls.handlers``, which the Flower app
    reads when it is built) and the app's ``broker_transport``, so call it before Flower
    starts; calling it again is harmless.
    """
    from flower import urls  # noqa: PLC0415 - only Flower processes import Flower
    from flower.views import monitor  # noqa: PLC0415
    from tornado import web  # noqa: PLC0415

    class AuthenticatedMetrics(monitor.Metrics):  # type: ignore[misc]
        """Flower's /metrics, behind the same basic auth as every other page."""

        @web.authenticated
        async def get(self) -> None:
            await super().get()

    kept = []
    for handler in urls.handlers:
        pattern = _pattern(handler)
        if pattern.startswith(REMOVED_ROUTES):
            continue
        metrics = pattern == "/metrics" and isinstance(handler, tuple)
        kept.append((pattern, AuthenticatedMetrics) if metrics else handler)
    urls.handlers[:] = kept
    _plain_broker_transport()
    os.umask(0o077)  # the state file Flower saves (and anything else it writes): 0600


def _plain_broker_transport() -> None:
    """Give Flower's process kombu's own Redis transport instead of the workers' one.

    Flower builds its broker client (queue lengths, ``/api/queues/length``) from the
    connection's URI, whose scheme is the transport's name: the workers' transport named by
    class (``worker.broker.transport:Transport``, which only changes how a consumer treats
    poison) makes that ``worker.broker.transport:Transport://...``, a scheme Flower's broker
    factory refuses (404). Flower consumes nothing, so the plain transport of the URL's own
    scheme (``redis``/``rediss``, TLS options unchanged) is all it needs.
    """
    from worker.app import app  # noqa: PLC0415 - the app and its tasks only for Flower's run

    app.conf.broker_transport = None


def _pattern(handler: Any) -> str:
    if isinstance(handler, tuple):
        return str(handler[0])
    return str(handler.regex.pattern).removesuffix("$")
