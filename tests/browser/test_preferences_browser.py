"""Issue 7's console pages in Chromium: security preferences, sessions, recovery warning."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import BrowserContext

from tests.browser.conftest import Authenticator, Site, new_page, sign_in
from tests.support import PASSWORD

pytestmark = pytest.mark.browser


def test_primary_sets_preferences(context: BrowserContext, site: Site) -> None:
    owner = site.signup("prefco")
    page = new_page(context)
    sign_in(page, owner)
    page.click("nav >> text=Security preferences")
    page.wait_for_url("**/account/security")
    assert page.input_value("#session_hours") == "12"
    page.fill("#login_networks", "203.0.113.0/24\n10.0.0.0/33")
    page.click("#preferences-save")
    page.wait_for_selector("#preferences-error")
    assert "not an IPv4 or IPv6 CIDR range" in page.inner_text("#login_networks-error")
    page.fill("#login_networks", "203.0.113.0/24\n2001:db8::/32")
    page.fill("#session_hours", "6")
    page.select_option("#mfa_for_login", "all_users")
    page.uncheck("#allow_users_to_manage_mfa")
    page.click("#preferences-save")
    page.wait_for_url("**/account/security?done=preferences-saved")
    assert "were saved" in page.inner_text("main")
    site.shot(page, "issue7-preferences")
    prefs = httpx.get(
        site.server.api + "/account/security", headers=site.api_login(owner)
    ).json()
    assert prefs["session_hours"] == 6 and prefs["mfa_for_login"] == "all_users"
    assert prefs["allow_users_to_manage_mfa"] is False
    assert prefs["login_networks"] == ["203.0.113.0/24", "2001:db8::/32"]


def test_recovery_warning_and_ending_other_sessions(context: BrowserContext, site: Site) -> None:
    owner = site.signup("sessco")
    headers = site.api_login(owner)
    dev = httpx.post(site.server.api + "/me/mfa-device", headers=headers).json()
    phone = Authenticator(dev["secret"])
    code1, code2 = phone.bind_codes()
    r = httpx.post(
        site.server.api + "/me/mfa-device/bind",
        headers=headers,
        json={"serial": dev["serial"], "code1": code1, "code2": code2},
    )
    assert r.status_code == 200, r.text
    tokens = []
    for code in r.json()["recovery_codes"][:7]:  # seven sessions signed in by recovery code
        ch = httpx.post(site.server.api + "/login", json={"login": owner, "password": PASSWORD})
        done = httpx.post(
            site.server.api + "/login/mfa",
            json={"challenge": ch.json()["challenge"], "recovery_code": code},
        )
        assert done.status_code == 200, done.text
        tokens.append(done.json()["token"])
    page = new_page(context)
    sign_in(page, owner, code=phone.code())
    page.wait_for_url(site.url + "/")
    page.goto("/security")
    warning = page.inner_text("#recovery-warning")
    assert "Only 3 recovery codes left." in warning
    page.click("#recovery-warning >> text=Make a new set")
    page.wait_for_url("**/security/recovery-codes")
    assert page.inner_text("#recovery-left") == "3"
    page.click("nav >> text=Sessions")
    page.wait_for_url("**/sessions")
    assert page.locator("#sessions tbody tr").count() == 9  # the API ones, this one, `headers`
    page.click("#end-others")
    page.wait_for_url("**/sessions?done=sessions-ended")
    assert page.locator("#sessions tbody tr").count() == 1
    assert "This session" in page.inner_text("#sessions")
    site.shot(page, "issue7-sessions")
    for token in tokens[:2]:
        me = httpx.get(site.server.api + "/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
