"""redis-py's client and pipeline, made safe for the project (every client of
:func:`worker.broker.clients.client_for` is a :class:`ScriptSafeRedis`).

* :class:`ScriptSafePipeline`: a pipeline's Lua scripts are made sure of on the connection
  that runs it, at every attempt of redis-py's retry (a failover's new primary has an
  empty script cache).
* :class:`_DropsAbandoned`: a command cut short by an exception that is not Redis's own
  (a ``KeyboardInterrupt`` from the CLI's SIGINT/SIGTERM handler) drops its connection
  instead of leaving its replies unread on a pooled one.
* :class:`SignalSafePacking` (a connection mixin): hiredis packs commands, but never an int
  or a float, which a signal turns into a segmentation fault there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.client import Pipeline
from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE

__all__ = [
    "ScriptSafePipeline",
    "ScriptSafeRedis",
    "SignalSafePacker",
    "SignalSafePacking",
    "drop_if_abandoned",
]

T = TypeVar("T")


class _DropsAbandoned:
    """Mixin for redis-py clients and pipelines: a command cut short by an exception that
    is not Redis's own leaves no reply unread on a pooled connection.

    redis-py (8.1) drops a connection when an exception escapes while it waits for a reply
    (``Connection.read_response`` catches ``BaseException``, redis/redis-py#1128), but not
    when it arrives between sending a command and that wait, or between a pipeline's
    replies: the connection then goes back to the pool with the replies still coming, and
    the next command reads them. A signal handler raising ``KeyboardInterrupt`` lands there:
    ``courier campaign start`` interrupted by SIGTERM then cancelled its campaign on such a
    connection and failed with ``ResponseError: Wrong number of response items from
    pipeline execution`` (a CI run; without this mixin, 208 of 1,500 signals landing in
    real pipelines did the same, tests/broker/test_interrupted_commands.py). Any exception
    that is not a :class:`redis.RedisError` (those redis-py handles: a reply read, or the
    connection already dropped) drops the connection here before it is raised.
    """

    def _send_command_parse_response(
        self, conn: Any, command_name: Any, *args: Any, **options: Any
    ) -> Any:
        return _dropping_abandoned(
            conn,
            lambda: super(_DropsAbandoned, self)._send_command_parse_response(  # type: ignore[misc]
                conn, command_name, *args, **options
            ),
            self,
        )


def drop_if_abandoned(connection: Any, exc: BaseException) -> bool:
    """Disconnect ``connection`` when ``exc``, which cut its exchange short, is not Redis's
    own (a reply may be left unread on it); True when it was dropped."""
    if isinstance(exc, redis.RedisError):
        return False
    connection.disconnect()
    return True


def _dropping_abandoned(connection: Any, do: Callable[[], T], owner: Any = None) -> T:
    try:
        return do()
    except BaseException as exc:
        if drop_if_abandoned(connection, exc) and getattr(owner, "watching", False):
            owner.watching = False  # the server forgot the WATCH with the connection
        raise


class ScriptSafePipeline(_DropsAbandoned, Pipeline):
    """redis-py's pipeline whose Lua scripts are made sure of on the connection that runs
    it, at every attempt.

    redis-py (8.1) checks a pipeline's scripts (SCRIPT EXISTS, then SCRIPT LOAD of the
    missing ones) once, before its retry loop. When the connection is then lost and the
    retry reconnects to another server - a failover: the script cache is per server and
    not replicated - the pipeline's EVALSHA answers NOSCRIPT (``NoScriptError``, a
    traceback in the worker), and in a MULTI the rest of the transaction has already run.
    redis-py's own docs say pipelines do no reload on NOSCRIPT (redis/redis-py#4206);
    ioredis fixed the same by reloading after a reconnect (redis/ioredis#1497). Here the
    check runs inside the retried call, on the pipeline's own connection, so it is made
    again on whichever server a reconnect reached: still one SCRIPT EXISTS round trip
    before the pipeline, as before.
    """

    def load_scripts(self) -> None:
        """Nothing before the retry loop: :meth:`_load_scripts_on` runs inside it."""

    def reset(self) -> None:  # type: ignore[override]  # Pipeline.reset, not RESET
        """redis-py's reset (UNWATCH if watching, then the connection back to the pool);
        cut short by anything but a Redis error, the connection is dropped and released."""
        try:
            super().reset()
        except BaseException as exc:
            connection: Any = self.connection
            if connection is not None and drop_if_abandoned(connection, exc):
                self.watching = False
                self.connection = None
                self.connection_pool.release(connection)
            raise

    def _execute_transaction(self, connection: Any, commands: Any, raise_on_error: Any) -> Any:
        def run() -> Any:
            self._load_scripts_on(connection)
            return super(ScriptSafePipeline, self)._execute_transaction(
                connection, commands, raise_on_error
            )

        return _dropping_abandoned(connection, run)

    def _execute_pipeline(self, connection: Any, commands: Any, raise_on_error: Any) -> Any:
        def run() -> Any:
            self._load_scripts_on(connection)
            return super(ScriptSafePipeline, self)._execute_pipeline(  # type: ignore[no-untyped-call]
                connection, commands, raise_on_error
            )

        return _dropping_abandoned(connection, run)

    def _load_scripts_on(self, connection: Any) -> None:
        if not self.scripts:
            return
        scripts = list(self.scripts)
        connection.send_command("SCRIPT", "EXISTS", *(script.sha for script in scripts))
        present = connection.read_response()
        for script, there in zip(scripts, present, strict=True):
            if not there:  # its sha is the SHA1 of its text: the queued EVALSHA stays right
                connection.send_command("SCRIPT", "LOAD", script.script)
                connection.read_response()


class ScriptSafeRedis(_DropsAbandoned, redis.Redis):
    """redis-py's client whose pipelines are :class:`ScriptSafePipeline` and whose
    interrupted commands drop their connection (:class:`_DropsAbandoned`); every client of
    :func:`client_for`."""

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        """A :class:`ScriptSafePipeline` (same arguments as redis-py's)."""
        return ScriptSafePipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


class SignalSafePacker(HiredisRespSerializer):
    """redis-py's hiredis command packer, with int and float arguments turned into text in
    Python first (the same bytes on the wire).

    hiredis-py 3.5.0 (``src/pack.c``, ``pack_command``) takes ``PyObject_Repr`` of an int
    or a float and uses the result without checking it. CPython's int repr checks for
    signals (``SIGCHECK`` in ``Objects/longobject.c``), so a signal whose handler raises
    (the CLI's SIGINT/SIGTERM, :mod:`worker.cli.interrupt`) makes it NULL, and
    ``pack_command`` reads through it: a segmentation fault. Seen packing ``SELECT 3`` and
    ``HELLO 3`` (every new connection) under a signal storm, and in a loop of interrupted
    commands on new connections; ``GET k1`` (text only) never. Here Python's ``repr``
    raises the ``KeyboardInterrupt`` cleanly instead. tests/broker/test_command_packer.py
    keeps a control that fails once hiredis checks the result itself.
    """

    def pack(self, *args: Any) -> list[bytes]:
        """The RESP bytes of one command (redis-py's ``HiredisRespSerializer.pack``)."""
        texts = (repr(a) if type(a) is int or isinstance(a, float) else a for a in args)
        packed: list[bytes] = super().pack(*texts)  # type: ignore[arg-type]  # typed List each
        return packed


class SignalSafePacking:
    """Mixin for redis-py connections: :class:`SignalSafePacker` where redis-py would use
    hiredis's packer (its pure-Python one, without hiredis, needs nothing)."""

    def _construct_command_packer(self, packer: Any) -> Any:
        if packer is None and HIREDIS_AVAILABLE:
            return SignalSafePacker()
        return super()._construct_command_packer(packer)  # type: ignore[misc]
