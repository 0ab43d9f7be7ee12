"""Flows 1–9 of the console in headless Chromium against a real server, with oathtool codes.

Each flow signs up its own account, so the flows are independent; a screenshot of each flow's
key page is written under test-output/screenshots/.
"""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import (
    Site,
    bind_here,
    new_page,
    sign_in,
    sign_out,
)
from tests.support import USER_PASSWORD

pytestmark = pytest.mark.browser


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_flow1_primary_enables_mfa(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("one"))
    page = new_page(context)
    sign_in(page, account)
    expect(page.locator("h1")).to_have_text("Overview")
    site.age_sessions(account)  # the login's freshness has passed: Set asks who you are
    page.click("#user-menu summary")
    page.click("#user-menu >> text=Security settings")
    expect(page.locator("#mfa-state")).to_have_text("Not enabled")
    page.click("#mfa-set")
    expect(page.locator("h1")).to_have_text("Identity verification")
    site.inbox.clear()
    page.click("#send-email-code")
    expect(page.locator("#email-sent")).to_be_visible()
    body = site.inbox.bodies_to(f"owner@{account}.example")[-1]
    page.fill("#email-code", re.search(r"\b(\d{6})\b", body).group(1))  # type: ignore[union-attr]
    site.shot(page, "flow1-identity-verification")
    page.click("form:has(#email-code) button[type=submit]")
    # Back on the page that asked, verified: Set again opens the binding page.
    expect(page.locator(".notice")).to_contain_text("identity is verified")
    page.click("#mfa-set")
    # The binding page: QR (decodable), key in fours with a copy button, two code fields.
    expect(page.locator("#mfa-qr svg")).to_be_visible()
    secret = page.inner_text("#mfa-secret")
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{1,4}", secret)
    qr_png = site.shots / "flow1-qr.png"
    page.locator("#mfa-qr").screenshot(path=str(qr_png))
    uri = subprocess.run(
        ["zbarimg", "--raw", "-q", str(qr_png)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert uri.startswith("otpauth://totp/") and f"secret={secret.replace(' ', '')}" in uri
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.locator("#copy-secret")
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret.replace(" ", "")
    for app in ("Google Authenticator", "Alibaba Cloud app", "JD Cloud app"):
        expect(page.locator("main")).to_contain_text(app)
    site.shot(page, "flow1-binding-page")
    page.set_viewport_size({"width": 390, "height": 844})
    site.shot(page, "flow1-binding-page-phone")
    page.set_viewport_size({"width": 1100, "height": 800})
    bind_here(page)
    expect(page.locator("#mfa-state")).to_have_text("Enabled")
    expect(page.locator("#mfa-bound-at")).to_contain_text("UTC")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    site.shot(page, "flow1-enabled-with-recovery-codes")
    page.reload()
    expect(page.locator("#recovery-codes")).to_have_count(0)  # shown once


def test_flow2_login_after_mfa(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("two"))
    page = new_page(context)
    sign_in(page, account)
    page.goto("/security")
    page.click("#mfa-set")
    phone = bind_here(page)
    sign_out(page)
    # Wrong code, then a code of another time: each keeps the person on the code page.
    sign_in(page, account, code="000000")
    expect(page.locator(".error")).to_contain_text("The code is wrong")
    expect(page.locator("input[name=code]")).to_be_visible()
    page.fill("input[name=code]", phone.at(phone.last + 6))
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    expect(page.locator(".error")).to_contain_text("clock is off")
    site.shot(page, "flow2-out-of-sync")
    page.fill("input[name=code]", phone.code())
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    expect(page.locator("h1")).to_have_text("Overview")
    sign_out(page)
    # Expired challenge: back to the password page with the reason.
    sign_in(page, account)
    page.wait_for_url("**/login/mfa*")
    site.expire_challenges(account)
    page.fill("input[name=code]", "123456")
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    expect(page.locator(".error")).to_contain_text("expired")
    expect(page.locator("input[name=password]")).to_be_visible()
    # Lockout after repeated wrong codes.
    sign_in(page, account, code="111111")
    for _ in range(6):
        if "locked" in page.inner_text(".error"):
            break
        page.fill("input[name=code]", "111111")
        page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    expect(page.locator(".error")).to_contain_text("locked")
    expect(page.locator("input[name=code]")).to_be_visible()
    site.shot(page, "flow2-lockout")


def test_flow3_primary_enables_mfa_for_sub_user(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("three"))
    site.add_user(account, "alice", USER_PASSWORD)
    page = new_page(context)
    sign_in(page, account)
    page.click("nav >> text=Users")
    page.click("text=alice")
    expect(page.locator("#user-mfa-state")).to_have_text("Not enabled")
    page.click("#user-mfa-enable")
    expect(page.locator("h1")).to_contain_text(f"alice@{account}")
    site.shot(page, "flow3-sub-user-binding")
    phone = bind_here(page)
    expect(page.locator(".notice")).to_contain_text(f"enabled for alice@{account}")
    expect(page.locator("#user-mfa-state")).to_have_text("Enabled")
    site.shot(page, "flow3-user-details-enabled")
    sign_out(page)
    sign_in(page, f"alice@{account}", USER_PASSWORD, code=phone.code())
    expect(page.locator("h1")).to_have_text("Overview")


def test_flow4_required_mfa_forces_setup(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("four"))
    site.add_user(account, "bob", USER_PASSWORD)
    page = new_page(context)
    sign_in(page, account)
    page.goto("/users/bob")
    page.click("#mfa-required-switch")
    expect(page.locator("#mfa-required-switch")).to_have_attribute("aria-checked", "true")
    site.shot(page, "flow4-switch-on")
    sign_out(page)
    sign_in(page, f"bob@{account}", USER_PASSWORD)
    page.wait_for_url("**/mfa/setup")
    for path in ("/", "/security", "/audit", "/security/password"):
        page.goto(path)
        assert page.url.endswith("/mfa/setup"), path
        expect(page.locator("#setup-required")).to_be_visible()
    site.shot(page, "flow4-setup-required")
    page.click("#mfa-start")
    bind_here(page)
    expect(page.locator("#mfa-state")).to_have_text("Enabled")
    page.click("nav >> text=Overview")
    expect(page.locator("h1")).to_have_text("Overview")


def test_flow5_sub_user_enables_own_mfa(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("five"))
    site.add_user(account, "carol", USER_PASSWORD)
    page = new_page(context)
    sign_in(page, f"carol@{account}", USER_PASSWORD)
    card = page.locator("#mfa-card")
    expect(card).to_contain_text("Virtual MFA verification")
    site.shot(page, "flow5-sub-user-overview")
    page.click("#user-menu summary")
    menu_entry = page.locator("#user-menu a", has_text="MFA verification")
    assert menu_entry.get_attribute("href") == card.locator("a").get_attribute("href")
    card.locator("a").click()
    page.click("#mfa-start")
    bind_here(page)
    expect(page.locator("#mfa-state")).to_have_text("Enabled")
    page.goto("/")
    expect(page.locator("#mfa-card")).to_contain_text("Enabled")


def test_flow6_disable(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("six"))
    site.add_user(account, "dave", USER_PASSWORD)
    page = new_page(context)
    sign_in(page, account)
    page.goto("/security")
    page.click("#mfa-set")
    phone = bind_here(page)
    site.age_sessions(account)  # a stale session verifies with a code before the page
    page.click("#mfa-disable")
    expect(page.locator("h1")).to_have_text("Identity verification")
    expect(page.locator("main")).to_contain_text("disable your virtual MFA device")
    page.fill("#verify-code", "000000")
    page.click("form[action='/verify'] button[type=submit]")
    expect(page.locator("#verify-error")).to_contain_text("wrong")
    page.fill("#verify-code", phone.code())
    page.click("form[action='/verify'] button[type=submit]")
    expect(page.locator("#disable-warning")).to_contain_text("stop working")
    expect(page.locator("#disable-warning")).to_contain_text("bind a device anew")
    site.shot(page, "flow6-disable-page")
    page.click("form[action='/mfa/disable'] button[type=submit]")
    expect(page.locator("#mfa-state")).to_have_text("Not enabled")
    expect(page.locator(".notice")).to_contain_text("no longer work")
    # The primary disables a sub-user's device from the user details.
    page.goto("/users/dave")
    page.click("#user-mfa-enable")
    bind_here(page)
    page.click("#user-mfa-disable")
    expect(page.locator("#disable-warning")).to_contain_text("new binding")
    page.click("form[action$='/mfa/disable'] button[type=submit]")
    expect(page.locator("#user-mfa-state")).to_have_text("Not enabled")
    site.shot(page, "flow6-user-disabled")


def test_flow7_replace(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("seven"))
    page = new_page(context)
    sign_in(page, account)
    page.goto("/security")
    page.click("#mfa-set")
    old = bind_here(page)
    site.age_sessions(account)
    page.click("#mfa-set")  # now "Replace"
    expect(page.locator("h1")).to_have_text("Identity verification")
    page.fill("#verify-code", old.code())
    page.click("form[action='/verify'] button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("identity is verified")
    page.click("#mfa-set")
    expect(page.locator("h1")).to_contain_text("Replace the virtual MFA device")
    site.shot(page, "flow7-replace-binding")
    new = bind_here(page)
    expect(page.locator(".notice")).to_contain_text("old device")
    sign_out(page)
    sign_in(page, account, code=old.at(old.last + 1))  # the old phone's next code
    expect(page.locator(".error")).to_contain_text("wrong")
    page.fill("input[name=code]", new.code())
    page.click("form[action='/login/mfa'] button[type=submit] >> nth=0")
    expect(page.locator("h1")).to_have_text("Overview")


def test_flow8_sensitive_operation_verification(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("eight"))
    site.add_user(account, "erin", USER_PASSWORD)
    page = new_page(context)
    sign_in(page, account)
    # Delete a user: verification, then back to the user's page to delete it.
    site.age_sessions(account)
    page.goto("/users/erin")
    page.click("#user-delete")
    expect(page.locator("h1")).to_have_text("Identity verification")
    expect(page.locator("main")).to_contain_text("delete a user")
    page.fill("#verify-password", "not my password")
    page.click("form:has(#verify-password) button[type=submit]")
    expect(page.locator("#verify-error")).to_contain_text("wrong")
    page.fill("#verify-password", "correct-horse-battery-9")
    page.click("form:has(#verify-password) button[type=submit]")
    page.wait_for_url("**/users/erin?done=verified")
    page.click("#user-delete")
    expect(page.locator(".notice")).to_contain_text("The user was deleted")
    # Change the password: a stale session verifies before the form is shown.
    site.age_sessions(account)
    page.goto("/security/password")
    expect(page.locator("main")).to_contain_text("change your password")
    expect(page.locator("#new_password")).to_have_count(0)
    site.shot(page, "flow8-verification-before-password-change")
    page.fill("#verify-password", "correct-horse-battery-9")
    page.click("form:has(#verify-password) button[type=submit]")
    page.wait_for_url("**/security/password?done=verified")
    new_password = "a brand new passphrase 77"
    page.fill("#current_password", "correct-horse-battery-9")
    page.fill("#new_password", new_password)
    page.fill("#new_password2", new_password)
    page.click("form[action='/security/password'] button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("password was changed")
    sign_out(page)
    sign_in(page, account, new_password)
    expect(page.locator("h1")).to_have_text("Overview")


def test_flow9_audit_page(site: Site, context: BrowserContext) -> None:
    account = site.signup(unique("nine"))
    token = site.api_login(account)
    for i in range(22):
        site.add_user(account, f"user{i:02d}", USER_PASSWORD, auth=token)
    page = new_page(context)
    sign_in(page, account)
    page.click("nav >> text=Audit log")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.nth(0)).to_contain_text("login.succeeded")
    times = [rows.nth(i).locator("td").nth(0).inner_text() for i in range(20)]
    assert times == sorted(times, reverse=True)
    site.shot(page, "flow9-audit")
    page.click("#audit-older")
    expect(page.locator("#audit-table")).to_contain_text("account.created")
