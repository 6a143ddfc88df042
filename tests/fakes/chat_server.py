"""A loopback OpenAI-compatible chat server for tests: 127.0.0.1 only, replies scripted by the test.

``respond(body, attempt)`` gets the parsed request and how many times the same messages were seen before, and
returns a :class:`Scripted` reply: a status, a message text or raw bytes, an optional delay, trickle and headers.
The server records every request (body and headers; a GET's headers too, answered 405) and the most requests it
had in flight at once.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

import cv2
import numpy as np


@dataclass
class Scripted:
    text: Optional[str] = None  # the assistant message
    status: int = 200
    raw: Optional[bytes] = None  # a body sent as is (malformed JSON, say)
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    tokens: int = 7
    trickle: float = 0.0  # seconds between the body's bytes (a server that never quite stops sending)


def user_text(body: dict) -> str:
    """The user message's text, whether content is a string or a list of parts."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content if p["type"] == "text")


def images(body: dict) -> list[np.ndarray]:
    """The user message's images, decoded from their data URLs (RGB)."""
    content = body["messages"][-1]["content"]
    out = []
    for part in content if isinstance(content, list) else []:
        if part["type"] == "image_url":
            header, data = part["image_url"]["url"].split(",", 1)
            assert header == "data:image/jpeg;base64", header
            frame = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
            out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return out


class ChatServer:
    def __init__(self, respond: Callable[[dict, int], Scripted]) -> None:
        self.respond = respond
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.gets: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "ChatServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # what a client that follows a POST's redirect sends
                with server._lock:
                    server.gets.append(dict(self.headers))
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = json.dumps(body["messages"], sort_keys=True)
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    server.paths.append(self.path)
                    attempt = server._seen.get(key, 0)
                    server._seen[key] = attempt + 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    scripted = server.respond(body, attempt)
                    time.sleep(scripted.delay)
                    payload = scripted.raw
                    if payload is None:
                        payload = json.dumps({
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": scripted.text}}],
                            "usage": {"completion_tokens": scripted.tokens},
                        }).encode()
                    self.send_response(scripted.status)
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if scripted.trickle:
                        for byte in payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(scripted.trickle)
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass
                finally:
                    with server._lock:
                        server.in_flight -= 1

        return Handler
