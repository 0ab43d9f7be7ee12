"""Issue 10 F2/F6 and the owner's notices: a stranger cannot lock the owner out, a lock tells
nothing about which logins exist, the network list is no password oracle, a challenge answers
only from its address, a code lock never stops the recovery codes, and the owner hears of
locks and of sign-ins from new addresses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Inbox
from tests.support import USER_PASSWORD, Api, Principal
from tests.web.api.conftest import error
from tests.web.api.prefs import set_prefs
from twofold.domain import policy
from twofold.storage.models import AuditEvent, ThrottleCounter

WRONG = "wrong password!"


@pytest.fixture
def clients(app: Any) -> Iterator[Any]:
    """TestClients whose peer is a given address (the default client is "testclient")."""
    made: dict[str, TestClient] = {}

    def at(addr: str) -> TestClient:
        if addr not in made:
            made[addr] = TestClient(app, client=(addr, 40000))  # type: ignore[arg-type]
            made[addr].__enter__()
        return made[addr]

    yield at
    for c in made.values():
        c.__exit__(None, None, None)


def login(c: TestClient, who: str, password: str, **extra: Any) -> Any:
    return c.post("/api/v1/login", json={"login": who, "password": password, **extra})


def answer(r: Any) -> tuple[int, str, str | None]:
    body = r.json()
    return r.status_code, body.get("error", {}).get("code", body.get("state")), r.headers.get(
        "Retry-After"
    )


def wait_for_mail(inbox: Inbox, to: str, words: str) -> list[str]:
    for _ in range(60):
        found = [m for m in inbox.bodies_to(to) if words in m]
        if found:
            return found
        time.sleep(0.05)
    return []


def test_a_stranger_cannot_lock_the_owner_out(api: Api, clients: Any) -> None:
    owner = api.signup()
    stranger = clients("198.51.100.7")
    for _ in range(policy.PASSWORD_FAILURE_LIMIT):
        error(login(stranger, "acme", WRONG), 401, "InvalidCredentials")
    r = login(stranger, "acme", owner.password)
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "60"
    # The owner, from its own address, is not locked out by them.
    r = api.call("POST", "/login", json={"login": "acme", "password": owner.password})
    assert r.status_code == 200, r.text
    # The table holds keyed hashes, never the typed login or address.
    with api.client.app.state.runtime.sessions() as db:  # type: ignore[attr-defined]
        keys = db.scalars(select(ThrottleCounter.key)).all()
    assert keys and all(len(k) == 64 and "acme" not in k and "198." not in k for k in keys)


def test_known_and_unknown_logins_answer_alike_under_the_same_failures(
    api: Api, clients: Any
) -> None:
    api.signup()
    seen = {}
    for who, addr in (("acme", "198.51.100.1"), ("nobody-here", "198.51.100.2")):
        c = clients(addr)
        trail = [answer(login(c, who, WRONG)) for _ in range(12)]
        api.clock.advance(61)
        trail += [answer(login(c, who, WRONG)) for _ in range(2)]
        seen[who] = trail
    assert seen["acme"] == seen["nobody-here"]
    assert seen["acme"][9] == (401, "InvalidCredentials", None)
    assert seen["acme"][10] == (429, "TooManyAttempts", "60")
    assert seen["acme"][13] == (429, "TooManyAttempts", "120")  # the doubling, alike


def test_the_per_login_ceiling_pauses_strangers_and_lets_the_owner_through(
    api: Api, clients: Any, inbox: Inbox
) -> None:
    owner = api.signup()  # signed in from "testclient": its usual address
    for n in range(policy.LOGIN_FAILURE_CEILING // policy.PASSWORD_FAILURE_LIMIT):
        c = clients(f"203.0.113.{n + 1}")
        for _ in range(policy.PASSWORD_FAILURE_LIMIT):
            error(login(c, "acme", WRONG), 401, "InvalidCredentials")
    # A fresh address, even with the right password, waits: the ceiling pauses strangers.
    r = login(clients("192.0.2.200"), "acme", owner.password)
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "60"
    # ... but only briefly, and the owner's usual address passes it at once.
    r = api.call("POST", "/login", json={"login": "acme", "password": owner.password})
    assert r.status_code == 200, r.text
    assert wait_for_mail(inbox, "owner@acme.example", "every address but your usual ones")


def test_unknown_login_failures_are_one_audit_row_per_client_and_window(
    api: Api, clients: Any
) -> None:
    for _ in range(5):
        login(clients("198.51.100.9"), "nobody-here", WRONG)
    login(clients("198.51.100.10"), "someone-else", WRONG)
    api.clock.advance(policy.UNKNOWN_LOGIN_AUDIT_WINDOW.total_seconds() + 1)
    login(clients("198.51.100.9"), "nobody-here", WRONG)
    with api.client.app.state.runtime.sessions() as db:  # type: ignore[attr-defined]
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.result == "unknown_login").order_by(AuditEvent.id)
        ).all()
        got = [(e.client_addr, e.detail["count"]) for e in rows]
    assert got == [("198.51.100.9", 5), ("198.51.100.10", 1), ("198.51.100.9", 1)]
    assert all("nobody" not in str(e.detail) for e in rows)


def test_outside_the_network_list_the_right_and_a_wrong_password_answer_alike(
    api: Api, clients: Any
) -> None:
    owner = api.signup()
    api.add_user(owner)
    set_prefs(api, owner, login_networks=["203.0.113.0/24"])
    outside = clients("198.51.100.1")
    right = login(outside, "alice@acme", USER_PASSWORD)
    wrong = login(outside, "alice@acme", WRONG)
    assert answer(right) == answer(wrong) == (403, "NetworkNotAllowed", None)
    assert right.json() == wrong.json()
    assert login(clients("203.0.113.4"), "alice@acme", USER_PASSWORD).status_code == 200


@pytest.fixture
def mfa_owner(api: Api) -> Principal:
    owner = api.signup()
    api.enable_mfa(owner)
    api.clock.advance(120)
    return owner


def test_a_challenge_answers_only_from_the_address_it_was_issued_to(
    api: Api, clients: Any, mfa_owner: Principal
) -> None:
    here = clients("203.0.113.5")
    challenge = login(here, "acme", mfa_owner.password).json()["challenge"]
    code = api.code(mfa_owner)
    r = clients("198.51.100.66").post(
        "/api/v1/login/mfa", json={"challenge": challenge, "code": code}
    )
    error(r, 401, "ChallengeExpired")
    r = here.post("/api/v1/login/mfa", json={"challenge": challenge, "code": code})
    assert r.status_code == 200, r.text


def test_a_code_lock_does_not_stop_the_recovery_codes(
    api: Api, mfa_owner: Principal, inbox: Inbox
) -> None:
    def challenge() -> str:
        r = api.call("POST", "/login", json={"login": "acme", "password": mfa_owner.password})
        return str(r.json()["challenge"])

    for _ in range(policy.CODE_FAILURE_LIMIT):
        r = api.call("POST", "/login/mfa", json={"challenge": challenge(), "code": "000000"})
        error(r, 401, "InvalidMFACode")
    r = api.call("POST", "/login/mfa", json={"challenge": challenge(), "code": api.code(mfa_owner)})
    error(r, 429, "TooManyAttempts")
    assert wait_for_mail(inbox, "owner@acme.example", "further checks are locked")
    r = api.call(
        "POST",
        "/login/mfa",
        json={"challenge": challenge(), "recovery_code": mfa_owner.recovery_codes[0]},
    )
    assert r.status_code == 200, r.text
    # Recovery codes keep a limit of their own.
    for _ in range(policy.RECOVERY_FAILURE_LIMIT):
        r = api.call(
            "POST", "/login/mfa", json={"challenge": challenge(), "recovery_code": "AAAA-AAAA"}
        )
        error(r, 401, "InvalidMFACode")
    r = api.call(
        "POST",
        "/login/mfa",
        json={"challenge": challenge(), "recovery_code": mfa_owner.recovery_codes[1]},
    )
    error(r, 429, "TooManyAttempts")


def test_the_owner_is_told_of_a_lock_and_of_a_sign_in_from_a_new_address(
    api: Api, clients: Any, inbox: Inbox
) -> None:
    owner = api.signup()
    inbox.clear()
    assert login(api.client, "acme", owner.password).status_code == 200  # usual: no mail
    stranger = clients("198.51.100.7")
    for _ in range(policy.PASSWORD_FAILURE_LIMIT):
        login(stranger, "acme", WRONG)
    mails = wait_for_mail(inbox, "owner@acme.example", "from 198.51.100.7 are paused")
    assert mails and owner.password not in mails[0]
    assert not [m for m in inbox.bodies_to("owner@acme.example") if "had not used recently" in m]
    assert login(clients("203.0.113.50"), "acme", owner.password).status_code == 200
    new = [m for m in inbox.bodies_to("owner@acme.example") if "had not used recently" in m]
    assert len(new) == 1 and "203.0.113.50" in new[0] and owner.password not in new[0]


def test_a_remembered_browser_passes_the_per_login_ceiling(
    api: Api, clients: Any, mfa_owner: Principal
) -> None:
    set_prefs(api, mfa_owner, remember_mfa_days=7)
    r = api.call("POST", "/login", json={"login": "acme", "password": mfa_owner.password})
    api.clock.advance(30)
    r = api.call(
        "POST",
        "/login/mfa",
        json={"challenge": r.json()["challenge"], "code": api.code(mfa_owner),
              "remember_browser": True},
    )
    remember = r.json()["remember_token"]
    for n in range(policy.LOGIN_FAILURE_CEILING // policy.PASSWORD_FAILURE_LIMIT):
        c = clients(f"203.0.113.{n + 1}")
        for _ in range(policy.PASSWORD_FAILURE_LIMIT):
            login(c, "acme", WRONG)
    travelling = clients("192.0.2.77")  # not a usual address
    error(login(travelling, "acme", mfa_owner.password), 429, "TooManyAttempts")
    r = login(travelling, "acme", mfa_owner.password, remember_token=remember)
    assert r.status_code == 200 and r.json()["state"] == "authenticated", r.text
