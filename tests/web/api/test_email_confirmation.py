"""Issue 13: confirming an email address by a mailed link, through the real SMTP server
(aiosmtpd); `email_verified` on /me and the users API. Both databases."""

from __future__ import annotations

from typing import Any

from tests.conftest import Inbox
from tests.support import (
    USER_PASSWORD,
    Api,
    Principal,
    confirmation_token,
    status_codes_in_parallel,
)
from tests.web.api.conftest import error
from twofold.domain import policy


def _me(api: Api, who: Principal) -> dict[str, object]:
    r = api.call("GET", "/me", who)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _confirm(api: Api, token: str) -> Any:
    return api.call("POST", "/email/confirm", json={"token": token})


def test_signup_mails_a_link_that_confirms_the_address_once(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    assert _me(api, owner)["email_verified"] is False
    bodies = inbox.bodies_to("owner@acme.example")
    assert len(bodies) == 1 and "acme" in bodies[0]
    token = confirmation_token(bodies)
    assert f"http://127.0.0.1:8000/email/confirm?token={token}" in bodies[0]
    r = api.call("POST", "/email/confirm", json={"token": token})
    assert r.status_code == 200, r.text
    assert r.json() == {"login": "acme", "email": "owner@acme.example", "email_verified": True}
    assert _me(api, owner)["email_verified"] is True
    # Single use; and a confirmed address needs no new link.
    error(_confirm(api, token), 400, "ValidationError")
    error(api.call("POST", "/me/email/confirmation", owner), 409, "EmailAlreadyVerified")
    events = api.call("GET", "/audit-events?limit=20", owner).json()["events"]
    actions = [e["action"] for e in events]
    assert "email.confirmed" in actions and "email.confirmation_sent" in actions
    assert token not in str(events)


def test_a_resent_link_voids_the_older_one_and_links_expire(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    first = confirmation_token(inbox.bodies_to("owner@acme.example"))
    r = api.call("POST", "/me/email/confirmation", owner)
    assert r.status_code == 202 and r.content == b"", r.text
    second = confirmation_token(inbox.bodies_to("owner@acme.example"))
    assert first != second
    error(_confirm(api, first), 400, "ValidationError")
    api.clock.advance(24 * 3600 + 1)
    error(_confirm(api, second), 400, "ValidationError")
    api.login(owner)
    assert _me(api, owner)["email_verified"] is False
    for bad in ("", "x" * 500, "A" * 43, "not a token at all"):
        error(_confirm(api, bad), 400, "ValidationError")
    error(api.call("POST", "/email/confirm", json={}), 400, "ValidationError")


def test_resending_is_throttled(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")  # the sign-up's mail is the first of the hour
    for _ in range(policy.CONFIRM_MAILS_PER_HOUR - 1):
        assert api.call("POST", "/me/email/confirmation", owner).status_code == 202
    r = api.call("POST", "/me/email/confirmation", owner)
    error(r, 429, "TooManyAttempts")
    assert int(r.headers["Retry-After"]) > 0
    assert len(inbox.bodies_to("owner@acme.example")) == policy.CONFIRM_MAILS_PER_HOUR
    api.clock.advance(3601)
    api.login(owner)
    assert api.call("POST", "/me/email/confirmation", owner).status_code == 202
    newest = confirmation_token(inbox.bodies_to("owner@acme.example"))
    assert _confirm(api, newest).status_code == 200


def test_an_address_gets_a_bounded_number_of_links(api: Api, inbox: Inbox) -> None:
    """A primary cannot make Twofold mail a stranger's address without end: each new user
    with it is created, but the mails stop at the hourly limit."""
    owner = api.signup("acme")
    victim = "victim@example.org"
    for n in range(policy.CONFIRM_MAILS_PER_HOUR + 2):
        api.add_user(owner, f"user-{n}", email=victim)
    assert len(inbox.bodies_to(victim)) == policy.CONFIRM_MAILS_PER_HOUR
    users = api.call("GET", "/users", owner).json()["users"]
    assert len(users) == policy.CONFIRM_MAILS_PER_HOUR + 2
    assert {u["email_verified"] for u in users} == {False}


def test_a_sub_user_confirms_and_a_new_address_is_unconfirmed_again(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    api.add_user(owner, "alice", email="alice@acme.example")
    alice = Principal("alice@acme", USER_PASSWORD)
    assert api.call("GET", "/users/alice", owner).json()["email_verified"] is False
    old_link = confirmation_token(inbox.bodies_to("alice@acme.example"))
    api.confirm_email(inbox.bodies_to("alice@acme.example"))
    assert api.call("GET", "/users/alice", owner).json()["email_verified"] is True
    api.login(alice)
    assert _me(api, alice)["email_verified"] is True
    # A new address: unconfirmed, and a link goes to it (not to the old one).
    error(api.call("POST", "/me/email/confirmation", alice), 409, "EmailAlreadyVerified")
    r = api.call("PATCH", "/users/alice", owner, json={"email": "alice.new@acme.example"})
    assert r.status_code == 200 and r.json()["email_verified"] is False, r.text
    assert _me(api, alice)["email_verified"] is False
    error(_confirm(api, old_link), 400, "ValidationError")
    new_link = confirmation_token(inbox.bodies_to("alice.new@acme.example"))
    # Setting the same address again changes nothing and sends nothing.
    sent = len(inbox.messages)
    r = api.call("PATCH", "/users/alice", owner, json={"email": "alice.new@acme.example"})
    assert r.status_code == 200 and len(inbox.messages) == sent
    # A link for an address the user no longer has confirms nothing.
    r = api.call("PATCH", "/users/alice", owner, json={"email": "alice.third@acme.example"})
    assert r.status_code == 200
    error(_confirm(api, new_link), 400, "ValidationError")
    api.confirm_email(inbox.bodies_to("alice.third@acme.example"))
    assert _me(api, alice)["email_verified"] is True
    # Removing the address: nothing to confirm.
    assert api.call("PATCH", "/users/alice", owner, json={"email": None}).status_code == 200
    me = _me(api, alice)
    assert me["email"] is None and me["email_verified"] is False
    error(api.call("POST", "/me/email/confirmation", alice), 400, "ValidationError")


def test_a_link_of_a_disabled_or_deleted_user_confirms_nothing(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    api.add_user(owner, "alice", email="alice@acme.example")
    api.add_user(owner, "bob", email="bob@acme.example")
    alice_link = confirmation_token(inbox.bodies_to("alice@acme.example"))
    bob_link = confirmation_token(inbox.bodies_to("bob@acme.example"))
    assert api.call("PATCH", "/users/alice", owner, json={"disabled": True}).status_code == 200
    assert api.call("DELETE", "/users/bob", owner).status_code == 204
    error(_confirm(api, alice_link), 400, "ValidationError")
    error(_confirm(api, bob_link), 400, "ValidationError")
    assert api.call("GET", "/users/alice", owner).json()["email_verified"] is False
    # Nor a link to an address the user no longer has.
    api.add_user(owner, "carol", email="carol@acme.example")
    carol_link = confirmation_token(inbox.bodies_to("carol@acme.example"))
    assert api.call("PATCH", "/users/carol", owner, json={"email": None}).status_code == 200
    error(_confirm(api, carol_link), 400, "ValidationError")


def test_two_confirms_racing_with_one_link_one_wins(api: Api, inbox: Inbox) -> None:
    owner = api.signup("acme")
    token = confirmation_token(inbox.bodies_to("owner@acme.example"))
    answers = status_codes_in_parallel(lambda: _confirm(api, token), lambda: _confirm(api, token))
    assert answers == [200, 400], answers
    assert _me(api, owner)["email_verified"] is True
    events = api.call("GET", "/audit-events?limit=20", owner).json()["events"]
    assert [e["action"] for e in events].count("email.confirmed") == 1
