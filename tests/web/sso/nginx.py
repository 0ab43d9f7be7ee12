"""A real nginx (Debian's, with auth_request) in front of a tiny upstream, for forward-auth
tests and the bench: run unprivileged from a directory of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.live import free_port

CONF = """
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /_twofold_auth {{
      internal;
      proxy_pass {twofold}/api/v1/authz/auth-request?app={client_id};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }}
    location / {{
      auth_request /_twofold_auth;
      auth_request_set $tf_user $upstream_http_remote_user;
      auth_request_set $tf_email $upstream_http_remote_email;
      auth_request_set $tf_name $upstream_http_remote_name;
      auth_request_set $tf_account $upstream_http_remote_account;
      proxy_set_header Remote-User $tf_user;
      proxy_set_header Remote-Email $tf_email;
      proxy_set_header Remote-Name $tf_name;
      proxy_set_header Remote-Account $tf_account;
      proxy_pass http://127.0.0.1:{upstream};
    }}
  }}
}}
"""


class _Echo(BaseHTTPRequestHandler):
    """The protected application: answers the identity headers it was given, as JSON."""

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def echo_upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def nginx_in_front(directory: Path, twofold: str, client_id: str, upstream: int) -> Iterator[str]:
    """nginx on a free loopback port: auth_request to `twofold`, then proxy to `upstream`."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tmp").mkdir(exist_ok=True)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(CONF.format(dir=directory, port=port, twofold=twofold,
                                client_id=client_id, upstream=upstream))
    proc = subprocess.Popen([binary, "-p", str(directory), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"nginx exited: {err}")
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
