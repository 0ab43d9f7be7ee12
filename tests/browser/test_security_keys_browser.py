"""Security keys and passkeys in Debian's Chromium, with its virtual authenticator (DevTools
protocol: ctap2, resident keys, user verification), over http://localhost:PORT: WebAuthn
refuses an IP address as the relying party id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Site, new_page, running_site, sign_in, sign_out
from tests.conftest import Inbox
from tests.sms_gateway import Gateway
from tests.support import USER_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def local_site(
    tmp_path_factory: pytest.TempPathFactory,
    output_dir: Path,
    smtp_server: tuple[Inbox, int],
    sms_server: Gateway,
) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("webauthn")
    with running_site(base, output_dir, smtp_server, sms_server, host="localhost") as s:
        yield s


@pytest.fixture
def keyed(browser: Browser, local_site: Site) -> Iterator[tuple[BrowserContext, Page, Any]]:
    """A page with a virtual platform authenticator that keeps passkeys and verifies its
    user without a prompt."""
    ctx = browser.new_context(base_url=local_site.url, viewport={"width": 1100, "height": 800})
    page = new_page(ctx)
    cdp = ctx.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "ctap2Version": "ctap2_1",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    yield ctx, page, (cdp, made["authenticatorId"])
    ctx.close()


def sign_counts(authenticator: Any) -> list[int]:
    cdp, authenticator_id = authenticator
    creds = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    return [c["signCount"] for c in creds["credentials"]]


def add_key_here(page: Page, name: str) -> None:
    page.fill("#key_name", name)
    page.click("#add-security-key")
    expect(page.locator("#security-key-list")).to_contain_text(name)


def test_key_registered_then_password_and_key_then_step_up_then_passkey_alone(
    local_site: Site, keyed: tuple[BrowserContext, Page, Any]
) -> None:
    _, page, authenticator = keyed
    account = local_site.signup(f"key-{uuid.uuid4().hex[:8]}")
    sign_in(page, account)
    expect(page.locator("h1")).to_have_text("Overview")
    page.goto("/security")
    add_key_here(page, "laptop passkey")
    expect(page.locator("#recovery-codes li")).to_have_count(10)  # the first factor
    expect(page.locator("#security-key-list")).to_contain_text("passkey")  # discoverable
    local_site.shot(page, "webauthn-key-added")
    sign_out(page)

    # Password, then the key.
    page.goto("/login")
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", "correct-horse-battery-9")
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/login/mfa*")
    before = sign_counts(authenticator)
    page.click("#use-security-key")
    expect(page.locator("h1")).to_have_text("Overview")
    assert sign_counts(authenticator)[0] > before[0]

    # Step-up with the key: removing a key needs a fresh verification.
    local_site.age_sessions(account)
    page.goto("/security")
    page.click("#security-key-list button.danger")
    expect(page.locator("h1")).to_have_text("Identity verification")
    page.click("#verify-security-key")
    expect(page.locator(".notice")).to_contain_text("identity is verified")
    sign_out(page)

    # A passkey alone: no login, no password.
    page.goto("/login")
    page.click("#passkey-login")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#user-menu .who")).to_have_text(account)


def test_enforced_setup_is_met_by_a_key(
    local_site: Site, keyed: tuple[BrowserContext, Page, Any]
) -> None:
    _, page, _ = keyed
    account = local_site.signup(f"req-{uuid.uuid4().hex[:8]}")
    login = local_site.add_user(account, "alice", USER_PASSWORD, mfa_required=True)
    sign_in(page, login, USER_PASSWORD)
    page.wait_for_url("**/mfa/setup")
    expect(page.locator("#setup-required")).to_be_visible()
    expect(page.locator("#mfa-start")).to_be_visible()  # a virtual device is offered too
    add_key_here(page, "alice's key")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Overview")  # no longer setup-only
