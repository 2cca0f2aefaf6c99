"""Which task messages a worker runs: only this app's own tasks, with arguments they take.

Celery registers its built-in tasks in every app (``celery.backend_cleanup``,
``celery.accumulate``, ``celery.starmap``, ``celery.map``, ``celery.chunks``,
``celery.chord_unlock``, ``celery.group``, ``celery.chain``, ``celery.chord``: see
``celery/app/builtins.py``), and a worker executes any of them that a message names.
Whoever can write to the queues could then run them (``celery.starmap`` wrapping a
project task ran it in-process, outside every check of the producer). The project sends
none of them, so a worker keeps a strategy only for :data:`OWN_TASK_PREFIX` names: a
message naming any other task reaches Celery's ``on_unknown_task``, which
:class:`~worker.broker.consumer.CourierConsumer` dead-letters as ``unknown_task``.

A message whose arguments the task's signature refuses (``courier.resend_confirmation_code``
called with ``nope=1``) used to fail inside the task with a traceback; the strategy now
binds them to the signature first and raises Celery's ``InvalidTaskError``, which the
consumer dead-letters as ``invalid_task`` (the message is rejected, nothing runs).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, MutableMapping
from typing import Any, Final

from celery.exceptions import InvalidTaskError

__all__ = ["OWN_TASK_PREFIX", "admit_own_tasks", "check_arguments"]

OWN_TASK_PREFIX: Final = "courier."
"""Every task the project defines is named ``courier.<name>`` (:mod:`tasks`)."""


def admit_own_tasks(strategies: MutableMapping[str, Any], tasks: MutableMapping[str, Any]) -> None:
    """Keep only the project's tasks in a consumer's ``strategies``, each checking its
    message's arguments against the task's signature before Celery builds a request."""
    for name in list(strategies):
        if not name.startswith(OWN_TASK_PREFIX):
            del strategies[name]
        else:
            strategies[name] = _checked(strategies[name], tasks[name])


def check_arguments(task: Any, message: Any) -> None:
    """Refuse a message whose arguments ``task`` cannot take.

    Raises:
        InvalidTaskError: naming the task and what the signature refused (argument names
            only, never their values: they may be sealed secrets).
    """
    payload = message.decode()
    if isinstance(payload, list | tuple) and len(payload) == 3:  # protocol 2
        args, kwargs = payload[0], payload[1]
    elif isinstance(payload, dict):  # protocol 1
        args, kwargs = payload.get("args", ()), payload.get("kwargs", {})
    else:
        raise InvalidTaskError(f"{task.name}: the body is not [args, kwargs, embed]")
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        raise InvalidTaskError(f"{task.name}: args must be a list and kwargs an object")
    try:
        inspect.signature(task.run).bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidTaskError(f"{task.name}: arguments refused ({exc})") from None


def _checked(strategy: Callable[..., Any], task: Any) -> Callable[..., Any]:
    def handler(message: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        check_arguments(task, message)
        return strategy(message, body, *args, **kwargs)

    return handler
