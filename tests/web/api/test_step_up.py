"""Step-up with an MFA code and with a code mailed through a real SMTP server."""

from __future__ import annotations

import re

from tests.conftest import Inbox
from tests.support import Api, Principal
from tests.web.api.conftest import error


def mailed_code(inbox: Inbox, to: str) -> str:
    bodies = inbox.bodies_to(to)
    assert bodies, "no mail arrived"
    found = re.search(r"\b(\d{6})\b", bodies[-1])
    assert found, bodies[-1]
    return found.group(1)


def test_verify_with_mfa_code(api: Api) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    api.clock.advance(6 * 60)
    error(api.call("POST", "/me/recovery-codes", owner), 403, "VerificationRequired")
    code = api.code(owner)
    r = api.call("POST", "/verify", owner, json={"method": "mfa", "code": code})
    assert r.status_code == 200
    assert api.call("POST", "/me/recovery-codes", owner).status_code == 201
    error(api.call("POST", "/verify", owner, json={"method": "mfa", "code": code}), 401,
          "InvalidMFACode")
    events = api.call("GET", "/audit-events?limit=200", owner).json()["events"]
    assert any(e["action"] == "verify.succeeded" and e["detail"] == {"method": "mfa"}
               for e in events)
    assert any(e["action"] == "mfa.verify.failed" and e["result"] == "replay" for e in events)


def test_email_step_up_through_smtp(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    api.add_user(owner, "bob")
    api.clock.advance(6 * 60)
    error(api.call("DELETE", "/users/bob", owner), 403, "VerificationRequired")
    assert api.call("POST", "/verify/email", owner).status_code == 202
    code = mailed_code(inbox, "owner@acme.example")
    r = api.call("POST", "/verify", owner, json={"method": "email", "code": code})
    assert r.status_code == 200
    assert api.call("DELETE", "/users/bob", owner).status_code == 204
    # Single use.
    error(api.call("POST", "/verify", owner, json={"method": "email", "code": code}), 401,
          "InvalidMFACode")
    # No address on file: nothing to mail.
    api.login(alice)
    e = error(api.call("POST", "/verify/email", alice), 400, "ValidationError")
    assert "email" in e["fields"]


def test_email_code_lives_ten_minutes_and_only_the_newest_counts(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    api.call("POST", "/verify/email", owner)
    first = mailed_code(inbox, "owner@acme.example")
    api.call("POST", "/verify/email", owner)
    second = mailed_code(inbox, "owner@acme.example")
    if first != second:
        error(api.call("POST", "/verify", owner, json={"method": "email", "code": first}), 401,
              "InvalidMFACode")
    api.clock.advance(10 * 60 - 1)
    assert api.call("POST", "/verify", owner,
                    json={"method": "email", "code": second}).status_code == 200
    api.call("POST", "/verify/email", owner)
    third = mailed_code(inbox, "owner@acme.example")
    api.clock.advance(10 * 60 + 1)
    error(api.call("POST", "/verify", owner, json={"method": "email", "code": third}), 401,
          "InvalidMFACode")


def test_email_codes_are_throttled_like_codes(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    api.call("POST", "/verify/email", owner)
    code = mailed_code(inbox, "owner@acme.example")
    bad = "000000" if code != "000000" else "111111"
    for _ in range(5):
        error(api.call("POST", "/verify", owner, json={"method": "email", "code": bad}), 401,
              "InvalidMFACode")
    r = api.call("POST", "/verify", owner, json={"method": "email", "code": code})
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "60"
    error(api.call("POST", "/verify/email", owner), 429, "TooManyAttempts")


def test_email_method_refused_while_mfa_is_bound(api: Api, inbox: Inbox) -> None:
    owner: Principal = api.signup()
    api.enable_mfa(owner)
    e = error(api.call("POST", "/verify", owner, json={"method": "email", "code": "123456"}),
              400, "ValidationError")
    assert "method" in e["fields"]
