"""Issue 10 F3: flood limits per client address on the unauthenticated routes
(TWOFOLD_RATE_LIMITS), 429 TooManyAttempts with Retry-After, API and console alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import PASSWORD, Api
from tests.web.api.conftest import error
from twofold.config import ConfigError, load_settings


def test_login_is_limited_per_client_address(api_with: Callable[..., Api]) -> None:
    api = api_with(rate_limits="login=3/minute")
    body = {"login": "nobody-here", "password": "x" * 1024}
    for _ in range(3):
        error(api.call("POST", "/login", json=body), 401, "InvalidCredentials")
    r = api.call("POST", "/login", json=body)
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "20"  # one request back every 20 seconds
    # Another address has its own allowance.
    app = api.client.app
    with TestClient(app, client=("198.51.100.3", 1)) as other:  # type: ignore[arg-type]
        assert other.post("/api/v1/login", json=body).status_code == 401
    api.clock.advance(20)
    error(api.call("POST", "/login", json=body), 401, "InvalidCredentials")
    error(api.call("POST", "/login", json=body), 429, "TooManyAttempts")


def test_signup_code_step_and_mail_sends_are_limited(api_with: Callable[..., Api]) -> None:
    api = api_with(rate_limits="signup=2/hour,login_mfa=2/minute,email=1/hour")
    owner = api.signup("acme")
    api.signup("bcme")
    r = api.call(
        "POST", "/accounts", json={"name": "ccme", "email": "c@c.example", "password": PASSWORD}
    )
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "1800"
    for _ in range(2):
        r = api.call("POST", "/login/mfa", json={"challenge": "nope", "code": "123456"})
        error(r, 401, "ChallengeExpired")
    error(api.call("POST", "/login/mfa", json={"challenge": "nope", "code": "1"}), 429,
          "TooManyAttempts")
    assert api.call("POST", "/verify/email", owner).status_code == 202
    error(api.call("POST", "/verify/email", owner), 429, "TooManyAttempts")


def test_off_turns_them_off(api_with: Callable[..., Api]) -> None:
    api = api_with(rate_limits="off")
    for n in range(40):  # other logins each time: the password throttle is not in play
        r = api.call("POST", "/login", json={"login": f"x{n}", "password": "y"})
        error(r, 401, "InvalidCredentials")


def test_the_console_login_is_limited_too(api_with: Callable[..., Api]) -> None:
    api = api_with(rate_limits="login=2/minute")
    client: Any = api.client
    for _ in range(2):
        assert client.post("/login", data={"login": "x", "password": "y"}).status_code != 429
    r = client.post("/login", data={"login": "x", "password": "y"})
    assert r.status_code == 429 and "Too many" in r.text
    assert r.headers["Retry-After"] == "30"


@pytest.mark.parametrize("bad", ["login=3", "login=x/minute", "flood=3/minute", "login=0/hour"])
def test_a_bad_setting_fails_at_start(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("TWOFOLD_RATE_LIMITS", bad)
    with pytest.raises(ConfigError, match="TWOFOLD_RATE_LIMITS"):
        load_settings()


def test_a_full_hashing_queue_sheds_sign_ins_with_retry_after(app: Any, api: Api) -> None:
    app.state.flood.hashing_limit = 0  # as if every slot were taken
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "1"
    r = api.call(
        "POST", "/accounts", json={"name": "acme", "email": "a@a.example", "password": PASSWORD}
    )
    error(r, 429, "TooManyAttempts")
    app.state.flood.hashing_limit = 4
    api.signup()
    assert app.state.flood.hashing == 0  # every slot given back
