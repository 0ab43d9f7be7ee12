"""The console (and the API's error messages) in Simplified Chinese beside English: chosen
from Accept-Language, switched in the top bar (a CSRF-checked form: a cookie, and the
principal's own preference when signed in), dates and mail in the chosen language."""

from __future__ import annotations

import re
import time
from email.header import decode_header, make_header
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Inbox
from tests.support import Api
from tests.web.console.conftest import ORIGIN, Console, csrf_of

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def _lang(page: Any) -> str:
    found = re.search(r'<html lang="([^"]+)">', page.text)
    assert found, page.text[:200]
    return found.group(1)


def test_accept_language_picks_the_language(console: Console) -> None:
    zh = console.get("/login", headers=ZH)
    assert _lang(zh) == "zh-CN" and zh.headers["content-language"] == "zh-CN"
    assert "<h1>登录</h1>" in zh.text and "登录名" in zh.text and "忘记密码？" in zh.text
    en = console.get("/login", headers=EN)
    assert _lang(en) == "en" and "<h1>Sign in</h1>" in en.text
    # q-values count: Chinese only as a second choice stays English.
    second = console.get("/login", headers={"Accept-Language": "en;q=0.9, zh;q=0.5"})
    assert _lang(second) == "en"


def test_api_errors_keep_their_code_in_either_language(api: Api, owner: Any) -> None:
    body = {"login": owner.login, "password": "not the password at all"}
    zh = api.call("POST", "/login", json=body, headers=ZH)
    en = api.call("POST", "/login", json=body, headers=EN)
    assert zh.status_code == en.status_code == 401
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "InvalidCredentials"
    assert zh.json()["error"]["message"] == "登录名或密码错误。"
    assert en.json()["error"]["message"] == "Wrong login or password."
    # A message with a value in it is translated whole, the value kept.
    missing = api.call("GET", "/users/nobody", owner, headers=ZH).json()["error"]
    assert missing == {"code": "NotFound", "message": "此账号下没有名为 'nobody' 的子用户。"}


def test_the_switch_is_a_csrf_form_and_sets_a_cookie(console: Console) -> None:
    page = console.get("/login", headers=EN)
    assert 'action="/language"' in page.text and 'value="zh_CN"' in page.text
    refused = console.post_with("/language", {"lang": "zh_CN"}, "not the token")
    assert refused.status_code == 403
    assert console.get("/login", headers=EN).headers["content-language"] == "en"
    bad = console.post_with("/language", {"lang": "xx"}, csrf_of(page.text))
    assert bad.status_code == 400
    r = console.post_with(
        "/language", {"lang": "zh_CN"}, csrf_of(page.text),
        headers={"Referer": f"{ORIGIN}/login?next=/audit"},
    )  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/audit"
    # The cookie wins over the browser's Accept-Language from now on.
    after = console.get("/login", headers=EN)
    assert _lang(after) == "zh-CN" and 'value="en"' in after.text


def test_a_signed_in_choice_follows_the_principal(console: Console, owner: Any, app: Any) -> None:
    console.login(owner.login, owner.password)
    overview = console.get("/", headers=EN)
    assert _lang(overview) == "en"
    r = console.post("/language", {"lang": "zh_CN"}, page="/")
    assert r.status_code == 303
    # Another browser, which asks for English and has no cookie: the principal's own choice.
    with TestClient(app, base_url=ORIGIN) as other:
        elsewhere = Console(other, console.clock)
        assert _lang(elsewhere.get("/login", headers=EN)) == "en"
        elsewhere.client.headers.update(EN)
        elsewhere.login(owner.login, owner.password)
        page = elsewhere.get("/audit")
        assert _lang(page) == "zh-CN" and "<h1>审计日志</h1>" in page.text
        # Dates in the locale's own pattern (Babel), still in UTC.
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d:\d\d UTC", page.text)
        # Switching back to English from there changes the preference again.
        elsewhere.post("/language", {"lang": "en"}, page="/")
    assert _lang(console.get("/", headers=ZH)) == "en"


def test_notices_errors_and_mail_in_chinese(console: Console, owner: Any, inbox: Inbox) -> None:
    console.client.headers.update(ZH)
    wrong = console.post("/login", {"login": owner.login, "password": "wrong password 123"})
    assert "登录名或密码错误。" in wrong.text
    signed_out = console.get("/login?done=signed-out")
    assert "您已退出登录。" in signed_out.text
    sent = console.post("/password-reset", {"login": owner.login})
    assert sent.status_code == 200 and "设置新密码的链接已发出" in sent.text
    # Mail goes out in the language of the request that caused it (here: a sign-up's
    # confirmation link).
    inbox.clear()
    r = console.client.post(
        "/api/v1/accounts",
        json={"name": "zhco", "email": "owner@zhco.example", "password": "a long passphrase 42"},
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 5
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.02)
    (mail,) = inbox.messages
    assert str(make_header(decode_header(mail["Subject"]))) == "确认您的邮箱地址"
    body = inbox.bodies_to("owner@zhco.example")[0]
    assert "此邮箱地址被填写为 Twofold 登录名 zhco 的邮箱" in body


def test_every_page_renders_in_chinese(console: Console, owner: Any, api: Api) -> None:
    """Each page family once in zh-CN (with MFA bound, a user, an application), so a
    translation that breaks a page (a plural, a placeholder) fails here, not in production."""
    api.enable_mfa(owner)
    api.add_user(owner, "alice")
    app = api.call(
        "POST", "/applications", owner,
        json={"name": "wiki", "type": "confidential", "redirect_uris": ["https://wiki.example/cb"]},
    )  # fmt: skip
    assert app.status_code == 201, app.text
    client_id = app.json()["client_id"]
    console.client.headers.update(ZH)
    console.login(owner.login, owner.password, code=api.code(owner, 1))
    pages = {
        "/": "概览",
        "/security": "安全设置",
        "/security/recovery-codes": "恢复码",
        "/users": "子用户",
        "/users/alice": "安全凭证",
        "/audit": "审计日志",
        "/sessions": "会话",
        "/account/security": "安全偏好设置",
        "/applications": "应用",
        f"/applications/{client_id}": "客户端密钥",
        "/mfa/setup": "虚拟MFA验证",
        "/logout": "现在结束此会话吗？",
    }
    for path, words in pages.items():
        page = console.get(path)
        if page.status_code == 303:  # a guarded page: verify first, in Chinese too
            assert page.headers["location"].startswith("/verify?")
            page = console.get(page.headers["location"])
            assert "身份验证" in page.text, path
            continue
        assert page.status_code == 200, (path, page.text[:300])
        assert _lang(page) == "zh-CN" and words in page.text, path


def test_a_forms_field_problems_in_chinese(console: Console, owner: Any, api: Api) -> None:
    console.client.headers.update(ZH)
    console.login(owner.login, owner.password)
    r = console.post("/users", {"name": "bob", "password": "short"})
    assert r.status_code == 400
    assert "密码至少需要 12 个字符。" in r.text and "至少 12 个字符" in r.text
    # The API keeps its fields in English (they are for programs); the message follows
    # the language.
    api_r = api.call("POST", "/users", owner, json={"name": "bob", "password": "short"},
                     headers=ZH)  # fmt: skip
    assert api_r.json()["error"]["fields"] == {"password": "at least 12 characters"}
    assert api_r.json()["error"]["message"] == "密码至少需要 12 个字符。"
