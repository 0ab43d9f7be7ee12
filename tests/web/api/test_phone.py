"""API.md "Phone": a principal adds a number, confirms it with the code the (real, local)
SMS gateway received, verifies its identity by SMS; codes are single use, short-lived,
throttled and send-limited; a failing or hanging gateway leaves nothing half-written."""

from __future__ import annotations

import hashlib
import hmac
import time

from sqlalchemy import select

from tests.sms_gateway import SECRET, Gateway
from tests.support import Api, Principal, status_codes_in_parallel
from tests.web.api.conftest import error
from twofold.config import Settings
from twofold.domain import policy
from twofold.storage.db import make_engine
from twofold.storage.models import SmsCode

PHONE = "+8613800138000"
SHOWN = "+86 138****8000"
VERIFIED = {"phone": SHOWN, "verified": True, "pending": None}
NONE = {"phone": None, "verified": False, "pending": None}


def add_phone(api: Api, who: Principal, gateway: Gateway, phone: str = PHONE) -> None:
    r = api.call("PUT", "/me/phone", who, json={"phone": phone})
    assert r.status_code == 202, r.text
    r = api.call("POST", "/me/phone/verify", who, json={"code": gateway.code_for(phone)})
    assert r.status_code == 200, r.text


def events(api: Api, who: Principal) -> list[str]:
    return [e["action"] for e in api.call("GET", "/audit-events", who).json()["events"]]


def test_add_and_confirm_a_phone(api: Api, gateway: Gateway, settings: Settings) -> None:
    owner = api.signup()
    r = api.call("PUT", "/me/phone", owner, json={"phone": "+86 138 0013 8000"})
    assert r.status_code == 202, r.text
    assert r.json() == {"sent_to": SHOWN}
    # The gateway got one JSON POST, signed with the shared secret over the exact body.
    [sent] = gateway.requests
    assert sent.path == "/sms" and sent.headers["content-type"] == "application/json"
    expected = "sha256=" + hmac.new(SECRET.encode(), sent.body, hashlib.sha256).hexdigest()
    assert sent.headers["x-twofold-signature"] == expected
    assert sent.json["to"] == PHONE
    code = gateway.code_for(PHONE)
    # Stored hashed: the code is in no column of its row.
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        row = conn.execute(select(SmsCode)).one()
    engine.dispose()
    assert code not in " ".join(str(v) for v in row)
    assert api.call("GET", "/me/phone", owner).json() == {
        "phone": None,
        "verified": False,
        "pending": SHOWN,
    }
    wrong = "000000" if code != "000000" else "111111"
    error(api.call("POST", "/me/phone/verify", owner, json={"code": wrong}), 401, "InvalidMFACode")
    r = api.call("POST", "/me/phone/verify", owner, json={"code": code})
    assert r.status_code == 200, r.text
    assert r.json() == VERIFIED
    assert api.call("GET", "/me", owner).json()["phone"] == SHOWN
    # Single use.
    error(api.call("POST", "/me/phone/verify", owner, json={"code": code}), 401, "InvalidMFACode")
    assert "phone.added" in events(api, owner)
    assert PHONE not in str(api.call("GET", "/audit-events", owner).json())  # masked there too


def test_bad_numbers_and_stale_sessions_are_refused(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    body = error(
        api.call("PUT", "/me/phone", owner, json={"phone": "13800138000"}), 400, "ValidationError"
    )
    assert "phone" in body["fields"]
    error(
        api.call("PUT", "/me/phone", owner, json={"phone": "+861012345678"}), 400, "ValidationError"
    )
    api.clock.advance(policy_window_seconds() + 1)
    error(api.call("PUT", "/me/phone", owner, json={"phone": PHONE}), 403, "VerificationRequired")
    error(api.call("DELETE", "/me/phone", owner), 403, "VerificationRequired")
    assert gateway.requests == []


def policy_window_seconds() -> int:
    return int(Settings().fresh_window.total_seconds())


def test_the_primary_sees_whether_a_user_has_a_verified_phone(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    alice = api.add_user(owner, "alice")
    assert api.call("GET", "/users/alice", owner).json()["phone_verified"] is False
    api.login(alice)
    add_phone(api, alice, gateway)
    assert api.call("GET", "/users/alice", owner).json()["phone_verified"] is True
    assert api.call("GET", "/users", owner).json()["users"][0]["phone_verified"] is True


def test_step_up_by_sms(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    error(api.call("POST", "/verify/sms", owner), 400, "ValidationError")  # no phone yet
    add_phone(api, owner, gateway)
    api.clock.advance(policy_window_seconds() + 1)
    error(api.call("POST", "/me/mfa-device", owner), 403, "VerificationRequired")
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    first = gateway.code_for(PHONE)
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    second = gateway.code_for(PHONE)
    if first != second:  # a newer code voids the older one
        r = api.call("POST", "/verify", owner, json={"method": "sms", "code": first})
        error(r, 401, "InvalidMFACode")
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": second})
    assert r.status_code == 200, r.text
    assert api.call("POST", "/me/mfa-device", owner).status_code == 201
    # Ten minutes, then the code is dead.
    api.clock.advance(policy_window_seconds() + 1)
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    api.clock.advance(601)
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": gateway.code_for(PHONE)})
    error(r, 401, "InvalidMFACode")


def test_with_a_device_bound_step_up_takes_the_device_not_the_phone(
    api: Api, gateway: Gateway
) -> None:
    """API.md: a principal with MFA enabled verifies with `mfa`; a phone never stands in."""
    owner = api.signup()
    add_phone(api, owner, gateway)
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    unused = gateway.code_for(PHONE)
    api.enable_mfa(owner)
    api.clock.advance(policy_window_seconds() + 1)
    sent = len(gateway.requests)
    error(api.call("POST", "/verify/sms", owner), 400, "ValidationError")
    assert len(gateway.requests) == sent  # no text message sent for nothing
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": unused})
    error(r, 400, "ValidationError")
    error(api.call("DELETE", "/me/mfa-device", owner), 403, "VerificationRequired")


def test_wrong_sms_codes_lock_the_code_checks(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    add_phone(api, owner, gateway)
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    code = gateway.code_for(PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(policy.CODE_FAILURE_LIMIT - 1):
        error(
            api.call("POST", "/verify", owner, json={"method": "sms", "code": wrong}),
            401,
            "InvalidMFACode",
        )
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": wrong})
    assert r.status_code in (401, 429)
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": code})
    error(r, 429, "TooManyAttempts")
    assert int(r.headers["Retry-After"]) > 0
    error(api.call("POST", "/verify/sms", owner), 429, "TooManyAttempts")  # no new codes either


def test_sends_are_limited_per_principal_and_per_number(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    for _ in range(policy.SMS_SENDS_PER_HOUR):
        assert api.call("PUT", "/me/phone", owner, json={"phone": PHONE}).status_code == 202
    r = api.call("PUT", "/me/phone", owner, json={"phone": "+8613900139000"})
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "3600"
    assert len(gateway.requests) == policy.SMS_SENDS_PER_HOUR
    # Per number: two users of the account together cannot flood one victim's number.
    victim = "+447911123456"
    users = []
    for name in ("alice", "bob"):
        u = api.add_user(owner, name)
        api.login(u)
        users.append(u)
    for n in range(policy.SMS_SENDS_PER_HOUR):
        assert api.call("PUT", "/me/phone", users[n % 2], json={"phone": victim}).status_code == 202
    for u in users:
        error(api.call("PUT", "/me/phone", u, json={"phone": victim}), 429, "TooManyAttempts")
    assert len(gateway.messages_to(victim)) == policy.SMS_SENDS_PER_HOUR
    api.clock.advance(3601)
    api.login(users[0])  # the old session went idle meanwhile
    assert api.call("PUT", "/me/phone", users[0], json={"phone": victim}).status_code == 202


def test_a_failing_gateway_leaves_nothing_half_written(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    add_phone(api, owner, gateway)
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    earlier = gateway.code_for(PHONE)
    gateway.reset()
    gateway.fail_next(500, 502)  # the first try and the one retry
    r = api.call("PUT", "/me/phone", owner, json={"phone": "+8613900139000"})
    error(r, 503, "SMSUnavailable")
    assert len(gateway.requests) == 2
    assert gateway.requests[0].body == gateway.requests[1].body  # one message, retried
    gateway.fail_next(500, 500)
    error(api.call("POST", "/verify/sms", owner), 503, "SMSUnavailable")
    # The old number stays, no number is pending, the earlier code still works.
    assert api.call("GET", "/me/phone", owner).json() == VERIFIED
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": earlier})
    assert r.status_code == 200, r.text
    assert events(api, owner).count("sms.failed") == 2
    # A refusal (4xx) is final: no retry.
    gateway.reset()
    gateway.fail_next(400)
    error(
        api.call("PUT", "/me/phone", owner, json={"phone": "+8613900139000"}), 503, "SMSUnavailable"
    )
    assert len(gateway.requests) == 1
    # Failed sends did not count towards the limit: after the two that went out, 3 more.
    for _ in range(policy.SMS_SENDS_PER_HOUR - 2):
        assert api.call("POST", "/verify/sms", owner).status_code == 202
    error(api.call("POST", "/verify/sms", owner), 429, "TooManyAttempts")


def test_one_failure_then_success_is_retried(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    gateway.fail_next(503)
    assert api.call("PUT", "/me/phone", owner, json={"phone": PHONE}).status_code == 202
    assert len(gateway.requests) == 2


def test_a_hanging_gateway_times_out(api_with: object, gateway: Gateway) -> None:
    quick = api_with(sms_webhook_timeout=0.3, sms_webhook_retries=0)  # type: ignore[operator]
    owner = quick.signup()
    gateway.hang_for = 2.0
    started = time.monotonic()
    r = quick.call("PUT", "/me/phone", owner, json={"phone": PHONE})
    assert time.monotonic() - started < 1.8
    error(r, 503, "SMSUnavailable")
    gateway.hang_for = 0.0
    assert quick.call("GET", "/me/phone", owner).json() == NONE
    [failed] = [
        e
        for e in quick.call("GET", "/audit-events", owner).json()["events"]
        if e["action"] == "sms.failed"
    ]
    assert failed["detail"] == {"purpose": "confirm", "to": SHOWN, "reason": "timeout"}


def test_removing_the_phone(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    error(api.call("DELETE", "/me/phone", owner), 404, "NotFound")
    add_phone(api, owner, gateway)
    assert api.call("DELETE", "/me/phone", owner).status_code == 204
    assert api.call("GET", "/me/phone", owner).json() == NONE
    error(api.call("POST", "/verify/sms", owner), 400, "ValidationError")


def test_an_sms_code_is_accepted_once_under_parallel_requests(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    add_phone(api, owner, gateway)
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    code = gateway.code_for(PHONE)
    answers = status_codes_in_parallel(
        *[lambda: api.call("POST", "/verify", owner, json={"method": "sms", "code": code})] * 3
    )
    assert answers == [200, 401, 401], answers


def test_changing_the_number_voids_codes_sent_to_the_old_one(api: Api, gateway: Gateway) -> None:
    owner = api.signup()
    add_phone(api, owner, gateway)
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    old_code = gateway.code_for(PHONE)
    new = "+8613900139000"
    assert api.call("PUT", "/me/phone", owner, json={"phone": new}).status_code == 202
    # Until the new number is confirmed, the old one is the phone and its code works...
    assert api.call("GET", "/me/phone", owner).json()["pending"] == "+86 139****9000"
    r = api.call("POST", "/me/phone/verify", owner, json={"code": gateway.code_for(new)})
    assert r.json()["phone"] == "+86 139****9000"
    # ...after, it does not; a code to the new number does.
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": old_code})
    error(r, 401, "InvalidMFACode")
    assert api.call("POST", "/verify/sms", owner).status_code == 202
    r = api.call("POST", "/verify", owner, json={"method": "sms", "code": gateway.code_for(new)})
    assert r.status_code == 200, r.text
    assert "phone.changed" in events(api, owner)
