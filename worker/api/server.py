"""Serving the front: uvicorn with a stricter HTTP/1.1 protocol for slow and broken clients.

uvicorn's h11 protocol (``uvicorn.protocols.http.h11_impl.H11Protocol``, uvicorn 0.29-0.54)
has no timeout for a request's head: its keep-alive timer runs only between requests and
is cancelled by any byte, so a client that sends half a request line holds a socket for
as long as it likes. It answers an unparseable request with a plain-text 400, and a
request path with a byte above 0x7F raises UnicodeDecodeError in its ``data_received``
(the connection is dropped without an answer). :class:`CourierH11Protocol`:

- closes a connection whose request head has not all arrived within
  COURIER_API_HEADER_TIMEOUT_SECONDS of the connection opening, or of the previous
  request's end, answering ``408 RequestTimeout`` (AWS-style JSON) first;
- answers h11's protocol errors (a malformed request line or header, a head larger than
  ``h11_max_incomplete_event_size``) and a non-ASCII path with ``400 BadRequest`` in the
  AWS-style JSON body;
- refuses a request carrying both ``Content-Length`` and ``Transfer-Encoding`` with
  ``400 BadRequest`` and closes the connection (RFC 9112 section 6.1: such a message "ought
  to be handled as an error" and the connection closed, since its framing is ambiguous
  and the classic way to smuggle a request past a proxy). h11 0.16 accepts it (the
  chunked framing wins), so the check is made on the parsed request head, before the
  request reaches the app.

The body has its own timeout (COURIER_API_BODY_TIMEOUT_SECONDS, read in
:func:`worker.api.decode.read_json_object`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["MAX_HEAD_BYTES", "CourierH11Protocol", "server_config"]

log = logging.getLogger("worker.api")

# Request line plus headers. 16 KiB (h11's default) leaves room for a GET carrying an
# AccessToken of a few KB; the largest allowed token (16,384 characters) needs POST.
MAX_HEAD_BYTES: Final = 16 * 1024


def _raw_response(status: int, reason: str, kind: str, message: str) -> bytes:
    body = json.dumps({"__type": kind, "message": message}).encode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class CourierH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout and AWS-style 400s."""

    header_timeout_seconds: float = 10.0  # set per server by server_config()
    _head_timer: asyncio.TimerHandle | None = None

    _refusal: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()
        parse = self.conn.next_event

        def next_event() -> Any:  # uvicorn's handle_events answers the error with a 400
            event = parse()
            if isinstance(event, h11.Request):
                names = {name.lower() for name, _ in event.headers}
                if {b"content-length", b"transfer-encoding"} <= names:
                    self._refusal = "Content-Length and Transfer-Encoding together are refused"
                    raise h11.RemoteProtocolError(self._refusal)
            return event

        self.conn.next_event = next_event  # type: ignore[method-assign]

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except UnicodeDecodeError:  # a request path with a byte above 0x7F
            self._refuse("the request path is not ASCII: percent-encode it")
            return
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()  # the head is in: the body has its own timeout

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request's head gets the same time

    def send_400_response(self, msg: str) -> None:
        self._refuse(f"the request is not valid HTTP/1.1 ({(self._refusal or msg).rstrip('.')})")

    def _refuse(self, message: str) -> None:
        log.info("refused a malformed request: %s", message)
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.write(_raw_response(400, "Bad Request", "BadRequest", message))
            self.transport.close()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_seconds, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is still being answered (pipelining): not idle
        started = bool(self.conn.trailing_data[0])
        if started:  # part of a request arrived: tell the client why it is cut off
            log.info(
                "closed a connection: request head incomplete after %gs",
                self.header_timeout_seconds,
            )
            message = f"the request head did not arrive within {self.header_timeout_seconds:g} s"
            self.transport.write(_raw_response(408, "Request Timeout", "RequestTimeout", message))
        self.transport.close()


def server_config(
    app: FastAPI, *, host: str, port: int, header_timeout_seconds: float, **options: Any
) -> uvicorn.Config:
    """uvicorn's config for the front: no access log (it prints query strings, where the
    GET form carries AccessTokens), no Server header, :class:`CourierH11Protocol`."""
    protocol = type(
        "ConfiguredH11Protocol",
        (CourierH11Protocol,),
        {"header_timeout_seconds": header_timeout_seconds},
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        access_log=False,
        log_config=None,
        server_header=False,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=5,
        **options,
    )
