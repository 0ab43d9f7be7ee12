"""Issue 10 F4: `POST /verify/email` mails at most five codes an hour per principal and per
destination address, counted in the database (so across processes), 429 with Retry-After."""

from __future__ import annotations

from tests.conftest import Inbox
from tests.support import Api
from tests.web.api.conftest import error
from twofold.domain import policy


def codes_to(inbox: Inbox, to: str) -> list[str]:
    """The code mails among those to `to` (a new address is also sent a confirmation link)."""
    return [b for b in inbox.bodies_to(to) if "verification code is" in b]


def test_sends_are_limited_per_principal(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    for _ in range(policy.EMAIL_SENDS_PER_HOUR):
        assert api.call("POST", "/verify/email", owner).status_code == 202
    api.clock.advance(600)
    r = api.call("POST", "/verify/email", owner)
    error(r, 429, "TooManyAttempts")
    assert r.headers["Retry-After"] == "3000"
    assert len(codes_to(inbox, "owner@acme.example")) == policy.EMAIL_SENDS_PER_HOUR
    api.clock.advance(3001)
    assert api.call("POST", "/verify/email", owner).status_code == 202


def test_sends_are_limited_per_destination_address(api: Api, inbox: Inbox) -> None:
    owner = api.signup()
    shared = "victim@example.org"
    users = []
    for name in ("alice", "bob"):
        u = api.add_user(owner, name, email=shared)
        api.login(u)
        users.append(u)
    for n in range(policy.EMAIL_SENDS_PER_HOUR):
        assert api.call("POST", "/verify/email", users[n % 2]).status_code == 202
    for u in users:  # each has sent fewer than five, but the address has had five
        error(api.call("POST", "/verify/email", u), 429, "TooManyAttempts")
    assert len(codes_to(inbox, shared)) == policy.EMAIL_SENDS_PER_HOUR
