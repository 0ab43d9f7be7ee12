"""Issue 13: forgot password by mail, through the real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import Inbox
from tests.support import PASSWORD, USER_PASSWORD, Api, Principal, status_codes_in_parallel
from tests.web.api.conftest import error

NEW_PW = "reset by mail passphrase 88"
_LINK = re.compile(r"(http://\S+/password-reset/confirm\?token=([A-Za-z0-9_-]+))")


def wait_mail(inbox: Inbox, to: str, count: int = 1) -> list[str]:
    """The mails to `to` (the link is mailed on a thread of its own)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        bodies = inbox.bodies_to(to)
        if len(bodies) >= count:
            return bodies
        time.sleep(0.02)
    raise AssertionError(f"no mail to {to}: {[m['To'] for m in inbox.messages]}")


def reset_token(inbox: Inbox, to: str, count: int = 1) -> str:
    """The token of the count-th reset link mailed to `to`."""
    deadline = time.monotonic() + 5
    links: list[Any] = []
    while time.monotonic() < deadline and len(links) < count:
        links = [m for body in inbox.bodies_to(to) for m in _LINK.findall(body)]
        time.sleep(0.02)
    assert len(links) >= count, "no reset link in the mail"
    assert links[-1][0].startswith("http://127.0.0.1:8000/password-reset/confirm?token=")
    return str(links[-1][1])


def _ask(api: Api, login: str) -> Any:
    r = api.call("POST", "/password-reset", json={"login": login})
    assert r.status_code == 202 and r.content == b"", r.text
    return r


def test_reset_by_mail_ends_sessions_and_keeps_mfa(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    api.confirm_email(inbox.bodies_to("owner@acme.example"))
    api.enable_mfa(owner)
    _ask(api, "acme")
    token = reset_token(inbox, "owner@acme.example")
    r = api.call("POST", "/password-reset/confirm", json={"token": token, "new_password": NEW_PW})
    assert r.status_code == 204, r.text
    error(api.call("GET", "/me", owner), 401, "Unauthenticated")
    # Single use.
    error(api.call("POST", "/password-reset/confirm",
                   json={"token": token, "new_password": "yet another one 99"}),
          400, "ValidationError")
    # MFA stays bound: the new password leads to the code step.
    error(api.call("POST", "/login", json={"login": "acme", "password": PASSWORD}),
          401, "InvalidCredentials")
    r = api.call("POST", "/login", json={"login": "acme", "password": NEW_PW})
    assert r.json()["state"] == "mfa_required"
    owner.password = NEW_PW
    api.login(owner)
    events = api.call("GET", "/audit-events?limit=50", owner).json()["events"]
    assert any(e["action"] == "password.reset" for e in events)
    assert token not in str(events) and NEW_PW not in str(events)
    deadline = time.monotonic() + 5
    while not any("was reset" in b for b in inbox.bodies_to("owner@acme.example")):
        assert time.monotonic() < deadline, "no notice of the reset"
        time.sleep(0.02)


def test_unknown_logins_get_the_same_answer_and_no_mail(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    api.add_user(owner, "nomail")
    inbox.clear()
    for login in ("nobody", "nomail@acme", "x" * 150, ""):
        _ask(api, login)
    error(api.call("POST", "/password-reset", json={}), 400, "ValidationError")
    time.sleep(0.3)
    assert inbox.messages == []


def test_link_expires_and_a_newer_one_voids_it(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    alice = api.add_user(owner, "alice", email="alice@acme.example")
    api.confirm_email(inbox.bodies_to("alice@acme.example"))
    _ask(api, "alice@acme")
    first = reset_token(inbox, "alice@acme.example")
    _ask(api, "alice@acme")
    second = reset_token(inbox, "alice@acme.example", 2)
    assert first != second
    error(api.call("POST", "/password-reset/confirm",
                   json={"token": first, "new_password": NEW_PW}), 400, "ValidationError")
    # A weak password is refused and the link still works.
    error(api.call("POST", "/password-reset/confirm",
                   json={"token": second, "new_password": "short"}), 400, "ValidationError")
    api.clock.advance(30 * 60 + 1)
    error(api.call("POST", "/password-reset/confirm",
                   json={"token": second, "new_password": NEW_PW}), 400, "ValidationError")
    assert api.login(Principal(alice.login, USER_PASSWORD))["state"] == "authenticated"


def test_no_link_for_a_disabled_user_and_a_disable_voids_a_sent_one(
    api: Api, inbox: Inbox
) -> None:
    owner = api.signup("acme")
    api.add_user(owner, "alice", email="alice@acme.example")
    api.confirm_email(inbox.bodies_to("alice@acme.example"))
    _ask(api, "alice@acme")
    token = reset_token(inbox, "alice@acme.example")
    assert api.call("PATCH", "/users/alice", owner, json={"disabled": True}).status_code == 200
    error(api.call("POST", "/password-reset/confirm",
                   json={"token": token, "new_password": NEW_PW}), 400, "ValidationError")
    inbox.clear()
    _ask(api, "alice@acme")
    time.sleep(0.3)
    assert inbox.messages == []


def test_no_link_to_an_unconfirmed_address(api: Api, inbox: Inbox) -> None:
    """Reset links go to a confirmed address only: the same 202 and nothing mailed until
    the holder of the address followed the confirmation link; a new address starts over."""
    owner = api.signup("acme")
    api.add_user(owner, "alice", email="alice@acme.example")
    to_owner, to_alice = inbox.bodies_to("owner@acme.example"), inbox.bodies_to(
        "alice@acme.example"
    )
    inbox.clear()
    for login in ("acme", "alice@acme"):
        _ask(api, login)
    time.sleep(0.3)
    assert inbox.messages == []
    events = api.call("GET", "/audit-events?limit=50", owner).json()["events"]
    reasons = {e["detail"]["reason"] for e in events if e["action"] == "password.reset_requested"}
    assert reasons == {"email_not_confirmed"}
    api.confirm_email(to_owner)
    api.confirm_email(to_alice)
    _ask(api, "acme")
    _ask(api, "alice@acme")
    reset_token(inbox, "owner@acme.example")
    reset_token(inbox, "alice@acme.example")
    r = api.call("PATCH", "/users/alice", owner, json={"email": "alice2@acme.example"})
    assert r.status_code == 200 and r.json()["email_verified"] is False, r.text
    to_new = inbox.bodies_to("alice2@acme.example")
    inbox.clear()
    _ask(api, "alice@acme")
    time.sleep(0.3)
    assert inbox.messages == []
    api.confirm_email(to_new)
    api.clock.advance(3601)  # past the hour's three requests for alice@acme
    _ask(api, "alice@acme")
    reset_token(inbox, "alice2@acme.example")


def test_mails_are_throttled_per_login(api: Api, inbox: Inbox) -> None:
    api.signup("acme")
    api.confirm_email(inbox.bodies_to("owner@acme.example"))
    for _ in range(5):
        _ask(api, "acme")
    reset_token(inbox, "owner@acme.example", 3)
    time.sleep(0.3)
    assert len([b for b in inbox.bodies_to("owner@acme.example") if _LINK.search(b)]) == 3
    api.clock.advance(3601)
    _ask(api, "acme")
    reset_token(inbox, "owner@acme.example", 4)


def test_reset_requests_are_flood_limited_per_client(api_with: Any, inbox: Inbox) -> None:
    limited = api_with(rate_limits="reset=2/hour")
    for _ in range(2):
        assert limited.call("POST", "/password-reset",
                            json={"login": "nobody"}).status_code == 202
    r = limited.call("POST", "/password-reset", json={"login": "nobody"})
    error(r, 429, "TooManyAttempts")
    assert int(r.headers["Retry-After"]) > 0


def test_two_confirms_racing_with_one_link_one_wins(api: Api, inbox: Inbox) -> None:
    api.signup("acme")
    api.confirm_email(inbox.bodies_to("owner@acme.example"))
    _ask(api, "acme")
    token = reset_token(inbox, "owner@acme.example")

    def confirm(new: str) -> Callable[[], Any]:
        body = {"token": token, "new_password": new}
        return lambda: api.call("POST", "/password-reset/confirm", json=body)

    answers = status_codes_in_parallel(
        confirm("racing passphrase one 1"), confirm("racing passphrase two 2")
    )
    assert answers == [204, 400], answers
    ok = [pw for pw in ("racing passphrase one 1", "racing passphrase two 2")
          if api.call("POST", "/login", json={"login": "acme", "password": pw}).status_code == 200]
    assert len(ok) == 1


def test_a_link_of_a_deleted_user_is_void(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    api.add_user(owner, "alice", email="alice@acme.example")
    api.confirm_email(inbox.bodies_to("alice@acme.example"))
    _ask(api, "alice@acme")
    token = reset_token(inbox, "alice@acme.example")
    assert api.call("DELETE", "/users/alice", owner).status_code == 204
    error(api.call("POST", "/password-reset/confirm",
                   json={"token": token, "new_password": NEW_PW}), 400, "ValidationError")
    for bad in ("", "x" * 500, "not a token at all"):
        r = api.call("POST", "/password-reset/confirm", json={"token": bad, "new_password": NEW_PW})
        assert r.status_code == 400, (bad, r.text)
