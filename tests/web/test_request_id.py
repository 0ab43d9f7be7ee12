"""X-Request-ID: a trusted proxy's is kept, anyone else gets a new one; answered in every
response and carried by the security log lines of the request (which hold the login, never
the password)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from twofold.logs import RequestIdFilter

NEW_ID = re.compile(r"[0-9a-f]{32}")


def test_an_untrusted_peer_gets_a_new_id_on_every_answer(
    app_with: Callable[..., TestClient],
) -> None:
    c = app_with(trusted_proxies=["192.0.2.0/24"])
    seen = set()
    for path in ("/healthz", "/api/v1/me", "/login", "/no/such/page"):
        r = c.get(path, headers={"X-Request-ID": "chosen-by-client"})
        assert NEW_ID.fullmatch(r.headers["x-request-id"]), (path, r.headers)
        seen.add(r.headers["x-request-id"])
    assert len(seen) == 4


def test_a_trusted_proxy_id_is_kept_when_well_formed(
    app_with: Callable[..., TestClient],
) -> None:
    c = app_with(client=("192.0.2.7", 40000), trusted_proxies=["192.0.2.0/24"])
    r = c.get("/healthz", headers={"X-Request-ID": "lb-7f3a:0001"})
    assert r.headers["x-request-id"] == "lb-7f3a:0001"
    for bad in ("two words", "x" * 129, "quote\"d", "line\\nbreak"):
        r = c.get("/healthz", headers={"X-Request-ID": bad})
        assert NEW_ID.fullmatch(r.headers["x-request-id"]), bad
    # uvicorn's proxy middleware has already put the forwarded client in the peer's place
    # (port 0): the connection still came from the trusted proxy.
    rewritten = app_with(client=("198.51.100.4", 0), trusted_proxies=["192.0.2.0/24"])
    r = rewritten.get("/healthz", headers={"X-Request-ID": "lb-1",
                                           "X-Forwarded-For": "198.51.100.4"})
    assert r.headers["x-request-id"] == "lb-1"
    assert NEW_ID.fullmatch(rewritten.get("/healthz", headers={"X-Request-ID": "lb-1"})
                            .headers["x-request-id"])


def test_security_events_carry_the_login_and_the_request_id(
    app_with: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    c = app_with()
    password = "a long passphrase here"
    r = c.post("/api/v1/accounts", json={"name": "acme", "email": "o@acme.example",
                                         "password": password})
    assert r.status_code == 201
    caplog.clear()
    caplog.handler.addFilter(RequestIdFilter())  # as the configured handler stamps records
    with caplog.at_level(logging.INFO, logger="twofold"):
        r = c.post("/api/v1/login", json={"login": "acme", "password": password + "!"})
        assert r.status_code == 401
        rid = r.headers["x-request-id"]
        r = c.post("/api/v1/login", json={"login": "acme", "password": password})
        assert r.status_code == 200
    security = [rec for rec in caplog.records if rec.name == "twofold.security"]
    assert [(rec.getMessage(), rec.login, rec.result) for rec in security] == [  # type: ignore[attr-defined]
        ("login.failed", "acme", "wrong_password"),
        ("login.succeeded", "acme", "success"),
    ]
    assert security[0].levelno == logging.WARNING
    assert security[0].request_id == rid  # type: ignore[attr-defined]
    access = [rec for rec in caplog.records if rec.name == "twofold.access"]
    assert [(rec.route, rec.status) for rec in access] == [  # type: ignore[attr-defined]
        ("/api/v1/login", 401), ("/api/v1/login", 200)
    ]
    text = "\n".join(f"{rec.getMessage()} {vars(rec)}" for rec in caplog.records)
    assert password not in text and r.json()["token"] not in text


def test_access_lines_can_be_turned_off(
    app_with: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    on, off = app_with(), app_with(access_log=False)
    with caplog.at_level(logging.INFO, logger="twofold"):
        on.get("/healthz")
        off.get("/healthz")
        r = off.get("/healthz")
    assert len([rec for rec in caplog.records if rec.name == "twofold.access"]) == 1
    assert NEW_ID.fullmatch(r.headers["x-request-id"])  # the id is there all the same
