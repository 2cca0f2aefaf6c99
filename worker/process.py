"""This process's settings: read from the environment once, then passed down.

The process's entry point reads them: the ``courier`` command line (its ``main``), or
``worker.app`` when it is imported (``celery -A worker.app ...``, and every producer
through ``tasks``), which installs whatever the entry point read before. What runs later
gets them passed: the runtime is built from them (:func:`worker.runtime.get_runtime`),
and a worker's start-up steps (its log format, its metrics port) ask here for the
settings its app was configured with, rather than reading the environment again.
"""

from __future__ import annotations

import threading

from worker.settings import Settings, load_settings

__all__ = ["process_settings", "use_settings"]

_lock = threading.Lock()
_settings: Settings | None = None


def use_settings(settings: Settings) -> None:
    """Make ``settings`` this process's settings (``worker.app.configure``, the CLI's entry
    point; the demo, which configures its own run)."""
    global _settings  # noqa: PLW0603 - one set of settings per process, by design
    with _lock:
        _settings = settings


def process_settings() -> Settings:
    """This process's settings: those installed by :func:`use_settings`, else the
    environment's, read now and kept for every later call.

    Raises:
        ConfigurationError: a variable is malformed (nothing is kept: the next call reads
            the environment again and says so again).
    """
    global _settings  # noqa: PLW0603
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = load_settings()
    return _settings
