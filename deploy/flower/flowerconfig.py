"""Flower settings for ``celery -A worker.app flower --conf=deploy/flower/flowerconfig.py``.

``courier flower`` (what the start script, compose and Kubernetes run) needs no config
file: it applies the same configuration itself. This file gives a plain ``celery ...
flower`` the project's configuration too (:mod:`worker.observe.flower` says what and why):

* basic auth from ``COURIER_FLOWER_BASIC_AUTH`` (``user:password``, comma-separated for
  several) on every page, API and ``/metrics``; Flower exits at start-up without it;
* read-only: the control and task-writing routes are removed (404);
* persistent state, ``max_tasks`` sized for a day at the budget (COURIER_RATE_LIMIT);
* the task list shows args (a campaign task's campaign id), result and exception.

Flower executes this file at start-up, before it builds its app.
"""

from worker.errors import ConfigurationError
from worker.observe.flower import flower_options, harden_flower
from worker.settings import load_settings

try:
    _options = flower_options(load_settings())
except ConfigurationError as _exc:
    raise SystemExit(str(_exc)) from None

harden_flower()  # before Flower builds its app: /metrics behind auth, no control routes
globals().update(_options)
