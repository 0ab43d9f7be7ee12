"""`twofold user phone LOGIN` shows the masked number; `twofold mfa reset` leaves it alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cli.test_cli import run  # noqa: F401 (the fixture)
from tests.sms_gateway import Gateway
from tests.support import Api


def test_user_phone_and_mfa_reset(run: Callable[..., Any], api: Api, gateway: Gateway) -> None:  # noqa: F811
    owner = api.signup()
    r = run("user", "phone", "acme")
    assert r.exit_code == 0 and r.output.strip() == "acme: no phone number", r.output
    assert api.call("PUT", "/me/phone", owner, json={"phone": "+8613800138000"}).status_code == 202
    code = gateway.code_for("+8613800138000")
    assert api.call("POST", "/me/phone/verify", owner, json={"code": code}).status_code == 200
    api.enable_mfa(owner)
    r = run("user", "phone", "acme")
    assert r.output.strip() == "acme: phone +86 138****8000 (verified)", r.output
    assert "8613800138000" not in r.output
    r = run("mfa", "reset", "acme")
    assert r.exit_code == 0 and "device removed" in r.output, r.output
    r = run("user", "phone", "acme")
    assert r.output.strip() == "acme: phone +86 138****8000 (verified)", r.output
    r = run("user", "phone", "nobody")
    assert r.exit_code == 1 and "NotFound" in r.output


def test_the_log_sms_provider_is_refused_in_production(run: Callable[..., Any]) -> None:  # noqa: F811
    r = run("user", "phone", "acme", TWOFOLD_ENV="production", TWOFOLD_SMS_PROVIDER="log")
    assert r.exit_code == 2, r.output
    assert "TWOFOLD_SMS_PROVIDER=log is for development" in r.output
