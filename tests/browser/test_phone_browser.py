"""Issue 17 in Chromium: a stale session verifies its identity by SMS (the code read from a
real local gateway) and goes on to bind a virtual MFA device."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Site, bind_here, new_page, sign_in

pytestmark = pytest.mark.browser

PHONE = "+8613800138000"


def test_a_stale_session_verifies_by_sms_and_binds_a_device(
    site: Site, context: BrowserContext
) -> None:
    account = site.signup(f"sms-{uuid.uuid4().hex[:8]}")
    auth = site.api_login(account)
    r = httpx.put(site.server.api + "/me/phone", headers=auth, json={"phone": PHONE})
    assert r.status_code == 202, r.text
    code = site.sms.code_for(PHONE)
    r = httpx.post(site.server.api + "/me/phone/verify", headers=auth, json={"code": code})
    assert r.status_code == 200, r.text

    page = new_page(context)
    sign_in(page, account)
    expect(page.locator("h1")).to_have_text("Overview")
    site.age_sessions(account)  # the sign-in's freshness has passed
    page.goto("/security")
    expect(page.locator("#phone-number")).to_have_text("+86 138****8000")
    page.click("#mfa-set")
    expect(page.locator("h1")).to_have_text("Identity verification")
    send = page.locator("#send-sms-code")
    expect(send).to_have_text("Send a code to +86 138****8000")
    sent_before = len(site.sms.messages_to(PHONE))
    send.click()
    expect(page.locator("#sms-sent")).to_be_visible()
    assert len(site.sms.messages_to(PHONE)) == sent_before + 1
    page.fill("#sms-code", site.sms.code_for(PHONE))
    site.shot(page, "sms-identity-verification")
    page.click("#sms-verify")
    expect(page.locator(".notice")).to_contain_text("identity is verified")
    page.click("#mfa-set")
    expect(page.locator("#mfa-qr svg")).to_be_visible()
    bind_here(page)
    expect(page.locator("#mfa-state")).to_have_text("Enabled")
