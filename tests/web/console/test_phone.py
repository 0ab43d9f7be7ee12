"""The console's phone section: add a number (guarded), type back the texted code, see it
masked, verify identity by SMS on the verification page, remove it."""

from __future__ import annotations

from typing import Any

from tests.sms_gateway import Gateway
from tests.support import PASSWORD
from tests.web.console.conftest import Console

PHONE = "+8613800138000"
SHOWN = "+86 138****8000"


def test_add_confirm_use_and_remove_a_phone(console: Console, owner: Any, gateway: Gateway) -> None:
    console.login("acme", PASSWORD)
    page = console.get("/security")
    assert 'id="phone-state">Not added' in page.text
    r = console.post("/security/phone", {"phone": "+86 138 0013 8000"})
    assert r.status_code == 200 and f"A 6-digit code was sent to {SHOWN}" in r.text
    assert PHONE not in r.text  # never shown in full
    r = console.post("/security/phone/confirm", {"code": "000000"}, page="/security/phone")
    if gateway.code_for(PHONE) != "000000":
        assert r.status_code == 401 and 'id="phone-error"' in r.text
    r = console.post(
        "/security/phone/confirm", {"code": gateway.code_for(PHONE)}, page="/security/phone"
    )
    assert r.status_code == 303 and r.headers["location"] == "/security?done=phone-verified"
    page = console.get("/security?done=phone-verified")
    assert f'id="phone-number">{SHOWN}' in page.text
    # A stale session: removing asks who you are; the verification page offers the phone.
    console.clock.advance(6 * 60)
    r = console.post("/security/phone/remove", {}, page="/security")
    assert r.status_code == 303 and r.headers["location"].startswith("/verify?")
    verify_url = r.headers["location"]
    page = console.get(verify_url)
    assert f"Send a code to {SHOWN}" in page.text
    hidden = {"next": "/security", "for": "phone.remove"}
    r = console.post("/verify/sms", hidden, page=verify_url)
    assert r.status_code == 200 and 'id="sms-sent"' in r.text
    r = console.verify(verify_url, {"method": "sms", "code": gateway.code_for(PHONE)})
    assert r.status_code == 303 and r.headers["location"].startswith("/security")
    r = console.post("/security/phone/remove", {}, page="/security")
    assert r.status_code == 303 and r.headers["location"] == "/security?done=phone-removed"
    assert 'id="phone-state">Not added' in console.get("/security").text


def test_a_bad_number_is_shown_with_the_form_again(console: Console, owner: Any) -> None:
    console.login("acme", PASSWORD)
    r = console.post("/security/phone", {"phone": "13800138000"})
    assert r.status_code == 400 and "country code" in r.text
    assert 'value="13800138000"' in r.text


def test_a_failing_gateway_is_a_clear_page(console: Console, owner: Any, gateway: Gateway) -> None:
    console.login("acme", PASSWORD)
    gateway.fail_next(500, 500)
    r = console.post("/security/phone", {"phone": PHONE})
    assert r.status_code == 503 and "SMS gateway is unavailable" in r.text
