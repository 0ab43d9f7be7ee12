"""TWOFOLD_LOG_FORMAT=json on a real `twofold serve`: every line it writes, uvicorn's
included, is one JSON object; security events carry the login and never a secret; the
proxy's X-Request-ID is kept and stamped on the request's lines."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Inbox
from tests.live import start_server
from tests.support import PASSWORD, USER_PASSWORD, confirmation_token, oathtool

pytestmark = pytest.mark.multiprocess

_LINK = re.compile(r"(http://\S+/password-reset/confirm\?token=([A-Za-z0-9_-]+))")
WRONG_PASSWORD = "definitely not it 42"


def test_json_lines_with_security_events_and_no_secrets(
    tmp_path: Path, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, smtp_port = smtp_server
    inbox.clear()
    server = start_server(
        f"sqlite:///{tmp_path / 'twofold.db'}", tmp_path / "twofold.key", tmp_path / "logs",
        extra_env={
            "TWOFOLD_LOG_FORMAT": "json",
            "TWOFOLD_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "TWOFOLD_TRUSTED_PROXIES": "127.0.0.1/32",  # the test stands in for the proxy
        },
    )
    secrets: list[str] = [PASSWORD, WRONG_PASSWORD, USER_PASSWORD]
    api = server.api
    try:
        with httpx.Client(timeout=30) as c:
            r = c.post(f"{api}/accounts", json={"name": "acme", "email": "owner@acme.example",
                                               "password": PASSWORD})
            assert r.status_code == 201, r.text
            # Reset links go to a confirmed address: follow the sign-up's confirmation link.
            confirm = confirmation_token(inbox.bodies_to("owner@acme.example"))
            r = c.post(f"{api}/email/confirm", json={"token": confirm})
            assert r.status_code == 200, r.text
            r = c.post(f"{api}/login", json={"login": "acme", "password": PASSWORD})
            token = r.json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            r = c.post(f"{api}/login", json={"login": "acme", "password": WRONG_PASSWORD},
                       headers={"X-Request-ID": "proxy-req-42"})
            assert r.status_code == 401
            assert r.headers["x-request-id"] == "proxy-req-42"
            dev = c.post(f"{api}/me/mfa-device", headers=auth).json()
            now = int(time.time())
            codes = [oathtool(dev["secret"], now - 30), oathtool(dev["secret"], now)]
            r = c.post(f"{api}/me/mfa-device/bind", headers=auth,
                       json={"serial": dev["serial"], "code1": codes[0], "code2": codes[1]})
            assert r.status_code == 200, r.text
            recovery = r.json()["recovery_codes"]
            r = c.post(f"{api}/users", headers=auth,
                       json={"name": "alice", "password": USER_PASSWORD})
            assert r.status_code == 201, r.text
            r = c.patch(f"{api}/users/alice", headers=auth, json={"disabled": True})
            assert r.status_code == 200, r.text
            ch = c.post(f"{api}/login", json={"login": "acme", "password": PASSWORD}).json()
            wrong = f"{(int(codes[1]) + 1) % 1_000_000:06d}"
            r = c.post(f"{api}/login/mfa", json={"challenge": ch["challenge"], "code": wrong})
            assert r.status_code == 401
            r = c.post(f"{api}/login/mfa",
                       json={"challenge": ch["challenge"], "recovery_code": recovery[0]})
            assert r.status_code == 200, r.text
            second = r.json()["token"]
            r = c.post(f"{api}/password-reset", json={"login": "acme"})
            assert r.status_code == 202
            deadline = time.monotonic() + 10
            while not any(_LINK.search(b) for b in inbox.bodies_to("owner@acme.example")):
                assert time.monotonic() < deadline, "no reset mail"
                time.sleep(0.1)
            link, reset_token = next(
                m.groups() for b in inbox.bodies_to("owner@acme.example")
                if (m := _LINK.search(b))
            )
            r = c.get(server.url + "/healthz")  # no proxy id: a new one, answered
            assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
            secrets += [dev["secret"], *codes, wrong, recovery[0], token, second,
                        ch["challenge"], link, reset_token, confirm]
    finally:
        server.kill(signal.SIGTERM)

    text = server.log()
    for secret in secrets:
        assert secret not in text, f"a secret is in the log: {secret[:4]}…"
    lines: list[dict[str, Any]] = []
    for line in text.splitlines():
        record = json.loads(line)  # every line, uvicorn's start and stop included
        assert {"timestamp", "level", "event", "request_id"} <= record.keys(), line
        lines.append(record)
    events = [r["event"] for r in lines]
    assert "Application startup complete." in events
    assert "Application shutdown complete." in events

    access = [r for r in lines if r["event"] == "request"]
    assert access and all(
        {"method", "route", "status", "duration_ms", "client"} <= r.keys() for r in access
    )
    assert any(
        (r["method"], r["route"], r["status"]) == ("PATCH", "/api/v1/users/{name}", 200)
        for r in access
    )

    security = {(r["event"], r.get("login"), r.get("result")) for r in lines
                if r.get("logger") == "twofold.security"}
    assert ("login.succeeded", "acme", "success") in security
    assert ("login.failed", "acme", "wrong_password") in security
    assert ("mfa.device_bound", "acme", "success") in security
    assert ("mfa.login.failed", "acme", "wrong_code") in security
    assert ("password.reset_requested", "acme", "success") in security
    assert ("email.confirmed", "acme", "success") in security
    disabled = [r for r in lines if r["event"] == "user.disabled"]
    assert disabled and disabled[0]["login"] == "acme" and disabled[0]["target"] == "alice@acme"

    # The proxy's id is on the request's access line and on its security event.
    tagged = [r for r in lines if r["request_id"] == "proxy-req-42"]
    assert {r["event"] for r in tagged} >= {"request", "login.failed"}
    assert all(r["client"] == "127.0.0.1" for r in tagged)
