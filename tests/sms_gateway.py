"""A real HTTP server on loopback standing in for the operator's SMS gateway relay: it
records every request (headers and raw body), and can be told to fail or to hang."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "test-sms-webhook-secret-0123456789"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class Gateway:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.failures: list[int] = []  # statuses to answer next, one per request
        self.hang_for = 0.0  # seconds to wait before answering
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.failures.clear()
            self.hang_for = 0.0

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.failures.extend(statuses)

    def messages_to(self, phone: str) -> list[str]:
        with self.lock:
            return [str(r.json["text"]) for r in self.requests if r.json.get("to") == phone]

    def code_for(self, phone: str) -> str:
        """The code of the newest message to `phone`."""
        texts = self.messages_to(phone)
        assert texts, f"no SMS was sent to {phone}"
        found = re.search(r"\b(\d{6})\b", texts[-1])
        assert found, texts[-1]
        return found.group(1)


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with gateway.lock:
                gateway.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = gateway.failures.pop(0) if gateway.failures else 200
                hang = gateway.hang_for
            if hang:
                time.sleep(hang)
            payload = b'{"ok": true}' if status == 200 else b'{"error": "refused"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up waiting (a hang test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_gateway() -> Iterator[Gateway]:
    gateway = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(gateway))
    server.daemon_threads = True
    gateway.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
