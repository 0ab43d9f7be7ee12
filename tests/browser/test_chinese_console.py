"""The enforced-MFA flow (flow 4) in Simplified Chinese, in headless Chromium: a browser whose
language is zh-CN gets the Chinese console, and the top bar's switch changes it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.conftest import Site, bind_here, new_page, sign_in, sign_out
from tests.support import USER_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def zh_context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    # locale sets navigator.language and the Accept-Language header Chromium sends.
    ctx = browser.new_context(
        base_url=site.url, viewport={"width": 1100, "height": 800}, locale="zh-CN"
    )
    yield ctx
    ctx.close()


def test_enforced_mfa_flow_in_chinese(site: Site, zh_context: BrowserContext) -> None:
    account = site.signup(f"zh-{uuid.uuid4().hex[:8]}")
    site.add_user(account, "bob", USER_PASSWORD)
    page = new_page(zh_context)
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")
    sign_in(page, account)
    page.goto("/users/bob")
    expect(page.locator("h2", has_text="安全凭证")).to_be_visible()
    page.click("#mfa-required-switch")
    expect(page.locator("#mfa-required-switch")).to_have_attribute("aria-checked", "true")
    expect(page.locator(".notice")).to_contain_text("已要求必须开启MFA验证")
    site.shot(page, "zh-flow4-switch-on")
    sign_out(page)

    sign_in(page, f"bob@{account}", USER_PASSWORD)
    page.wait_for_url("**/mfa/setup")
    expect(page.locator("h1")).to_have_text("虚拟MFA验证")
    expect(page.locator("#setup-required")).to_contain_text("您的账号要求开启MFA验证")
    page.goto("/security")
    assert page.url.endswith("/mfa/setup")
    site.shot(page, "zh-flow4-setup-required")

    # The top bar's switch: English on the same page, then back.
    page.click(".langswitch button[value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#setup-required")).to_contain_text("Your account requires MFA")
    page.click(".langswitch button[value=zh_CN]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.click("#mfa-start")
    expect(page.locator("h1")).to_have_text("启用虚拟MFA设备")
    expect(page.locator("#bind-submit")).to_have_text("确定启用")
    site.shot(page, "zh-flow4-bind")
    bind_here(page)
    expect(page.locator("#mfa-state")).to_have_text("已启用")
    expect(page.locator(".notice")).to_have_text("虚拟MFA已启用。")
    expect(page.locator("#mfa-bound-at")).to_contain_text("年")
    page.click("nav >> text=概览")
    expect(page.locator("h1")).to_have_text("概览")
    site.shot(page, "zh-flow4-overview")
