"""Log lines for people and for log pipelines: text or JSON, job and campaign ids, no secrets.

``COURIER_LOG_FORMAT`` (:attr:`~worker.settings.Settings.log_format`) picks the format of
every line the worker, the HTTP front and the CLI write (on stderr):

* ``text`` (default): ``2026-11-30 17:40:01,123 INFO worker.delivery message [job_id=...]``;
* ``json``: one object a line, ``{"time", "level", "logger", "message"}`` plus ``job_id``
  and ``campaign_id`` on every line about one (``row``, and ``username`` where
  COURIER_LOG_USERNAMES allows it, on lines about one campaign row:
  :mod:`worker.observe.rows`), and ``exc_info`` for a traceback (the formatter is
  python-json-logger's; every extra attribute given to a log call is a key).

The ids come from context variables (:func:`log_context`), set by a worker for the task
it runs (Celery's ``task_prerun``/``task_postrun`` signals, :func:`bind_task_context`)
from the task's ``job_id`` / ``campaign_id`` argument, so lines written deep down (the
retry policy's "attempt 1 failed; retrying") carry them without passing them around.
Celery's own lines about a job (received, succeeded, failed) get its id too.

Every line's message and traceback goes through :func:`worker.observe.redact.mask_urls_in`: a
Redis URL's password never reaches a log, whichever library wrote the line.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import inspect
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

from worker.observe.redact import mask_urls_in

__all__ = [
    "LogFormat",
    "bind_task_context",
    "configure_logging",
    "connect_worker_signals",
    "current_context",
    "log_context",
    "row_log_context",
    "say_in_json",
    "unbind_task_context",
]

LogFormat = Literal["text", "json"]

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_campaign_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "campaign_id", default=None
)
_row: contextvars.ContextVar[int | None] = contextvars.ContextVar("row", default=None)
_username: contextvars.ContextVar[str | None] = contextvars.ContextVar("username", default=None)
_CONTEXT_KEYS = ("job_id", "campaign_id", "row", "username")
_TASK_ID_KEYS = ("job_id", "campaign_id")
"""What Celery's own lines about a task take from its arguments: ids only, never a
username (that only where COURIER_LOG_USERNAMES allows it, :mod:`worker.observe.rows`)."""
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_HANDLER_NAME = "courier"


@contextmanager
def log_context(*, job_id: str | None = None, campaign_id: str | None = None) -> Iterator[None]:
    """Within the block, every log line of this thread (or task) names these ids."""
    with _binding({_job_id: job_id, _campaign_id: campaign_id}):
        yield


@contextmanager
def row_log_context(*, row: int, username: str | None = None) -> Iterator[None]:
    """Within the block, every log line of this thread also names a campaign row (its
    number from 1) and, when given, its username; the ids already bound stay."""
    with _binding({_row: row, _username: username}):
        yield


@contextmanager
def _binding(values: Mapping[contextvars.ContextVar[Any], Any]) -> Iterator[None]:
    tokens = [(variable, variable.set(value)) for variable, value in values.items()]
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


def current_context() -> dict[str, str | int]:
    """The ids set by :func:`log_context` (and :func:`row_log_context`) here, without the
    unset ones."""
    values = {
        "job_id": _job_id.get(),
        "campaign_id": _campaign_id.get(),
        "row": _row.get(),
        "username": _username.get(),
    }
    return {key: value for key, value in values.items() if value is not None}


class ContextFilter(logging.Filter):
    """Adds ``job_id`` / ``campaign_id`` to each record (never drops a record).

    An id given explicitly (``extra={"job_id": ...}``) wins; else the context variables;
    else, for Celery's task lines (which carry ``data={"id", "name", "args", "kwargs"}``,
    the arguments as their reprs), the ids among the task's arguments, and for a job task
    its task id (the job id, by the producer's contract).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the ids on ``record``; always True."""
        for key, value in current_context().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        data = getattr(record, "data", None)
        if isinstance(data, Mapping) and isinstance(data.get("name"), str):
            for key, value in _task_line_ids(data).items():
                if getattr(record, key, None) is None:
                    setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """Plain lines, the ids appended in brackets, URLs masked."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The line for ``record``."""
        line = mask_urls_in(super().format(record))
        ids = " ".join(
            f"{key}={getattr(record, key)}"
            for key in _CONTEXT_KEYS
            if getattr(record, key, None) is not None
        )
        return f"{line} [{ids}]" if ids else line


class CourierJsonFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, ids, extras; URLs masked."""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            # Celery's task lines carry their whole context as `data`: the ids are enough;
            # uvicorn's carry `color_message`, the message again with terminal colours.
            reserved_attrs=[*_RESERVED, "data", "color_message"],
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """ISO 8601, UTC, milliseconds: ``2026-11-30T17:40:01.123Z``."""
        stamp = datetime.fromtimestamp(record.created, UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Mask URLs in the text members (message, traceback)."""
        for key in ("message", "exc_info", "stack_info"):
            value = log_data.get(key)
            if isinstance(value, str):
                log_data[key] = mask_urls_in(value)
        return log_data


# The LogRecord attributes that are not "extras" (python-json-logger's own list).
_RESERVED = [
    "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName",
    "levelname", "levelno", "lineno", "module", "msecs", "message", "msg", "name",
    "pathname", "process", "processName", "relativeCreated", "stack_info", "taskName",
    "thread", "threadName",
]  # fmt: skip


def configure_logging(
    log_format: LogFormat, level: int | str = logging.INFO, *, stream: TextIO | None = None
) -> None:
    """Send every logger's lines to ``stream`` (stderr) in ``log_format``, at ``level``.

    Replaces the handler a previous call installed (so calling it twice, e.g. by the CLI
    and then by Celery's ``setup_logging`` signal, leaves one); other handlers stay.

    Raises:
        ValueError: ``log_format`` is neither ``text`` nor ``json``.
    """
    if log_format not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {log_format!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(CourierJsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings become log lines (logger py.warnings) too


def connect_worker_signals() -> None:
    """Let Celery workers log through :func:`configure_logging`, with task ids bound.

    Connects Celery's ``setup_logging`` (a receiver there replaces Celery's own logging
    set-up; ``--loglevel`` still applies) and ``task_prerun``/``task_postrun``.
    """
    from celery.signals import (  # noqa: PLC0415
        celeryd_init,
        setup_logging,
        task_postrun,
        task_prerun,
    )

    celeryd_init.connect(_quiet_worker_banner, weak=False)
    setup_logging.connect(_setup_worker_logging, weak=False)
    task_prerun.connect(_task_prerun, weak=False)
    task_postrun.connect(_task_postrun, weak=False)


def _setup_worker_logging(loglevel: int | str | None = None, **_: Any) -> None:
    from worker.process import process_settings  # noqa: PLC0415 - the worker's, at its start

    log_format = process_settings().log_format
    configure_logging(log_format, loglevel or logging.INFO)
    if log_format == "json":
        say_in_json()


def _quiet_worker_banner(instance: Any = None, **_: Any) -> None:
    """``celeryd_init``: under JSON logs no worker prints Celery's text banner, however it
    was started (``courier worker`` or ``celery -A worker.app worker``)."""
    from worker.process import process_settings  # noqa: PLC0415 - the worker's, at its start

    if instance is not None and process_settings().log_format == "json":
        instance.quiet = True


def say_in_json() -> None:
    """Make Celery's signal-handler messages (``worker: Warm shutdown (MainProcess)``, the
    Ctrl+C hints, ``Restarting celery worker``) JSON lines on stderr.

    Celery writes them with ``celery.apps.worker.safe_say``: a bare ``os.write`` of
    ``"\nmessage\n"`` to the real stdout, from the signal handler, past every logging
    handler. Its replacement writes one pre-formatted JSON object with one ``os.write``
    (no logging lock is taken inside a signal handler) to stderr, where every other line
    of the worker goes, in the order it happened.
    """
    import celery.apps.worker  # noqa: PLC0415 - only workers print these

    celery.apps.worker.safe_say = _say_json  # type: ignore[attr-defined]


def _say_json(msg: str, f: Any = None) -> None:
    del f  # always stderr: one stream, in order
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    level = "WARNING" if "Ctrl+C" in msg or "not supported" in msg else "INFO"
    line = {"time": stamp, "level": level, "logger": "celery.apps.worker", "message": msg}
    # like Celery's: losing a shutdown notice must never abort the shutdown
    with contextlib.suppress(OSError):
        os.write(sys.__stderr__.fileno() if sys.__stderr__ else 2, _dump(line))


def _dump(line: dict[str, str]) -> bytes:
    return (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


def _task_prerun(
    task: Any = None,
    args: tuple[Any, ...] | None = None,
    kwargs: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    bind_task_context(task, args, kwargs)


def _task_postrun(**_: Any) -> None:
    unbind_task_context()


def bind_task_context(
    task: Any, args: tuple[Any, ...] | None, kwargs: dict[str, Any] | None
) -> None:
    """Set the ids of the task about to run from its ``job_id``/``campaign_id`` arguments.

    For Celery's ``task_prerun``; :func:`unbind_task_context` undoes it at ``task_postrun``.
    A task with neither argument runs with no ids.
    """
    unbind_task_context()
    if not _id_parameters(getattr(task, "run", None)):
        return
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except TypeError:  # arguments that do not fit: the task itself will say so
        return
    job_id, campaign_id = bound.arguments.get("job_id"), bound.arguments.get("campaign_id")
    _job_id.set(job_id if isinstance(job_id, str) else None)
    _campaign_id.set(campaign_id if isinstance(campaign_id, str) else None)


def unbind_task_context() -> None:
    """Forget the ids of the task that just ran (``task_postrun``)."""
    _job_id.set(None)
    _campaign_id.set(None)


@cache
def _id_parameters(function: Any) -> tuple[str, ...]:
    if function is None:
        return ()
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(name for name in _TASK_ID_KEYS if name in parameters)


def _task_line_ids(data: Mapping[str, Any]) -> dict[str, str]:
    """The ids of a Celery task line's task, from its ``data`` (name, id, arg reprs)."""
    from celery import current_app  # noqa: PLC0415 - only the worker logs task lines

    task = current_app.tasks.get(data["name"])
    run = getattr(task, "run", None)
    names = _id_parameters(run)
    if run is None or not names:
        return {}
    ids: dict[str, str] = {}
    try:  # the reprs Celery logs: argsrepr / kwargsrepr (secrets already <sealed>)
        args = ast.literal_eval(str(data.get("args") or "()"))
        kwargs = ast.literal_eval(str(data.get("kwargs") or "{}"))
        bound = inspect.signature(run).bind_partial(*args, **kwargs).arguments
        ids = {key: bound[key] for key in names if isinstance(bound.get(key), str)}
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass  # a repr that is not a literal: fall back on the task id below
    if "job_id" in names and isinstance(data.get("id"), str):
        ids.setdefault("job_id", data["id"])
    return ids
