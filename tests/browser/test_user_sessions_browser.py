"""Issue 10 in Chromium: the primary ends a sub-user's sessions from its details page, and
turning "MFA verification must be enabled" off asks who you are first."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Site, new_page, sign_in
from tests.support import PASSWORD, USER_PASSWORD

pytestmark = pytest.mark.browser


def test_primary_ends_a_users_sessions(site: Site, context: BrowserContext) -> None:
    account = site.signup(f"ten-{uuid.uuid4().hex[:8]}")
    site.add_user(account, "dora", USER_PASSWORD)
    dora = site.api_login(f"dora@{account}", USER_PASSWORD)
    page = new_page(context)
    sign_in(page, account)
    page.goto("/users/dora")
    rows = page.locator("#user-sessions-table tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("button", has_text="End").click()
    page.wait_for_url("**/users/dora?done=user-session-ended")
    expect(page.locator("#user-no-sessions")).to_be_visible()
    assert httpx.get(site.server.api + "/me", headers=dora).status_code == 401
    site.shot(page, "issue10-user-sessions")
    # Switching the requirement on runs at once; off (a stale session) verifies first.
    page.click("#mfa-required-switch")
    expect(page.locator("#mfa-required-switch")).to_have_attribute("aria-checked", "true")
    site.age_sessions(account)
    page.click("#mfa-required-switch")
    expect(page.locator("h1")).to_have_text("Identity verification")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/users/dora?done=verified")
    page.click("#mfa-required-switch")
    page.wait_for_url("**/users/dora?done=mfa-required-off")
    expect(page.locator("#mfa-required-switch")).to_have_attribute("aria-checked", "false")
