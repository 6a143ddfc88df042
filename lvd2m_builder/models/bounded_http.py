"""One HTTP POST with a total deadline and a cap on the reply, that never follows a redirect.

Why not ``urllib.request``: its ``timeout`` bounds each socket operation, not the exchange (a server that trickles
a byte at a time holds a request for ever), ``read()`` takes whatever size the server sends, and its redirect
handler resends every header, ``Authorization`` included, to any origin a ``Location`` names. Here
``http.client`` is used directly: a timer shuts the socket down at the deadline, the body is read up to the cap,
and a 3xx comes back like any other status for the caller to refuse.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from dataclasses import dataclass
from email.message import Message
from typing import Optional
from urllib.parse import unquote, urlsplit


class ReplyTooLarge(ValueError):
    """The server sent more than the cap allows."""


@dataclass(frozen=True)
class Target:
    """Where a POST goes; ``auth`` is a Basic header made from user info in the URL, if it had any."""

    scheme: str
    host: str
    port: Optional[int]
    path: str
    auth: Optional[str] = None

    @classmethod
    def parse(cls, url: str) -> "Target":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host")
        auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, parts.port, path, auth)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes  # at most the cap


def post(target: Target, body: bytes, headers: dict[str, str], timeout_s: float, max_bytes: int) -> Response:
    """POST ``body``; raises TimeoutError past ``timeout_s`` in all, ReplyTooLarge past ``max_bytes``, else what
    ``http.client`` raises (OSError, HTTPException)."""
    kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = kind(target.host, target.port, timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    expired = threading.Event()
    try:
        connection.connect()  # bounded by the socket timeout
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no reply within {timeout_s:g}s")
        timer = threading.Timer(remaining, _expire, (connection.sock, expired))
        timer.daemon = True
        timer.start()
        try:
            connection.request("POST", target.path, body, headers)
            response = connection.getresponse()
            data = response.read(max_bytes + 1)
        except (OSError, http.client.HTTPException) as e:
            if expired.is_set():
                raise TimeoutError(f"no reply within {timeout_s:g}s") from e
            raise
        finally:
            timer.cancel()
    finally:
        connection.close()
    if expired.is_set():  # the shutdown may end a read early without an error
        raise TimeoutError(f"no reply within {timeout_s:g}s")
    if len(data) > max_bytes:
        raise ReplyTooLarge(f"reply larger than {max_bytes} bytes")
    return Response(response.status, response.headers, data)


def _expire(sock: socket.socket, expired: threading.Event) -> None:
    """Unblock whatever read or write the request is in, from the timer's thread."""
    expired.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the request finished as the timer fired
