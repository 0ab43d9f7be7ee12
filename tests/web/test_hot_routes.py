"""The hot routes' common case is answered before the framework's routing (web/hot.py):
forward-auth and GET /me, without a worker thread on SQLite and without a write. Whatever a
first answer declines — a session due its last-seen touch or expired, a bad parameter, an
error — the route answers as before, and a client sees the same answer either way."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import select

from tests.support import Api
from tests.web.test_metrics import scrape, value
from twofold.domain import policy
from twofold.storage.models import AuthSession, Principal

AR = "/authz/auth-request"
FA = "/authz/forward-auth"
SAME_EVERY_TIME = ("date", "x-request-id")


def _app(api: Api, owner: Any) -> str:
    body = {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/callback"]}
    r = api.call("POST", "/applications", owner, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["client_id"])


@pytest.fixture
def thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions sent to a worker thread while the test runs."""
    calls: list[str] = []
    original = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(getattr(func, "func", func), "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return calls


def _last_seen(api: Api) -> list[Any]:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.sessions() as db:
        return list(db.scalars(select(AuthSession.last_seen_at).order_by(AuthSession.id)))


def _headers(r: Any) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k not in SAME_EVERY_TIME}


def test_the_common_case_takes_no_worker_thread(
    api: Api, thread_calls: list[str], db_url: str
) -> None:
    acme = api.signup("acme")
    app = _app(api, acme)
    api.clock.advance(61)
    api.call("GET", f"{AR}?app={app}", acme)  # the touch due since sign-in: the route's
    thread_calls.clear()
    for path in (AR, FA):
        r = api.call("GET", f"{path}?app={app}", acme)
        assert r.status_code == 200 and r.headers["remote-user"] == "acme"
    r = api.call("GET", f"{AR}?app={app}")
    assert r.status_code == 401
    # SQLite reads a local file and never waits in WAL mode: inline. PostgreSQL's reads
    # wait for the network, on the event loop's own connections (storage/aio.py).
    assert thread_calls == []


def test_a_session_due_its_touch_is_touched_then_answered_alike(api: Api) -> None:
    acme = api.signup("acme")
    app = _app(api, acme)
    fast = api.call("GET", f"{AR}?app={app}", acme)  # fresh: nothing to write
    before = _last_seen(api)
    api.clock.advance(61)
    routed = api.call("GET", f"{AR}?app={app}", acme)  # the touch is due: the route writes it
    after = _last_seen(api)
    assert fast.status_code == routed.status_code == 200
    assert _headers(fast) == _headers(routed)
    assert fast.headers["x-request-id"] != routed.headers["x-request-id"]
    assert after != before and max(after) == api.clock.now()
    # Both answers are counted under the route's template, never the raw path.
    m = scrape(api.client)
    assert value(m, "twofold_http_requests_total", route=f"/api/v1{AR}", method="GET",
                 status="200") == 2


def test_an_idle_session_is_refused_and_removed(api: Api) -> None:
    acme = api.signup("acme")
    app = _app(api, acme)
    assert api.call("GET", f"{AR}?app={app}", acme).status_code == 200
    api.clock.advance(61 * 60)  # past the idle limit (60 minutes)
    assert len(_last_seen(api)) == 1
    r = api.call("GET", f"{FA}?app={app}", acme, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].endswith("/login")
    assert _last_seen(api) == []  # the route removed it


def test_what_the_fast_path_does_not_answer_the_route_does(api: Api) -> None:
    acme = api.signup("acme")
    app = _app(api, acme)
    missing = api.call("GET", AR, acme)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "ValidationError"
    assert api.call("GET", f"{AR}?app={'a' * 49}", acme).status_code == 400
    twice = api.call("GET", f"{AR}?app=app-nope&app={app}", acme)  # the last one counts
    assert twice.status_code == 200 and twice.headers["remote-user"] == "acme"
    assert api.call("HEAD", f"{AR}?app={app}", acme).status_code == 405


def test_me_is_answered_first_and_alike(api: Api, thread_calls: list[str], db_url: str) -> None:
    acme = api.signup("acme")
    api.enable_mfa(acme)
    api.clock.advance(61)
    routed = api.call("GET", "/me", acme)  # the touch is due: the route answers
    thread_calls.clear()
    fast = api.call("GET", "/me", acme)
    # On the event loop: inline on SQLite, on the loop's own connections on PostgreSQL.
    assert thread_calls == []
    assert fast.status_code == routed.status_code == 200
    assert fast.content == routed.content  # the same bytes, the same schema
    assert _headers(fast) == _headers(routed)
    assert fast.json()["mfa"]["enabled"] is True and fast.json()["mfa"]["totp"] is True
    assert fast.json()["mfa"]["recovery_codes_left"] == routed.json()["mfa"]["recovery_codes_left"]
    assert api.call("GET", "/me").status_code == 401  # no credential: the route's error
    m = scrape(api.client)
    assert value(m, "twofold_http_requests_total", route="/api/v1/me", method="GET",
                 status="200") == 2


def _failures(api: Api, login: str) -> int:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.sessions() as db:
        return int(db.scalar(select(Principal.code_failures).where(Principal.login == login)))


def test_the_code_check_crosses_at_most_once_and_counts_a_wrong_code_once(
    api: Api, thread_calls: list[str], db_url: str
) -> None:
    acme = api.signup("acme")
    api.enable_mfa(acme)
    api.clock.advance(60)
    thread_calls.clear()
    r = api.call("POST", "/verify", acme, json={"method": "mfa", "code": api.code(acme)})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"verified_until"}
    # A right code: on the event loop, no worker thread: inline on SQLite, on the loop's
    # own connections on PostgreSQL (storage/aio.py).
    assert thread_calls == []
    # A wrong code is refused by the first answer itself (counted by the code check on the
    # event loop, like a right code), with the app's error body, and counted once (the
    # route does not run it again).
    thread_calls.clear()
    before = _failures(api, "acme")
    wrong = api.call("POST", "/verify", acme, json={"method": "mfa", "code": "000000"})
    assert thread_calls == []
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "InvalidMFACode"
    assert wrong.headers["cache-control"] == "no-store"
    assert _failures(api, "acme") == before + 1
    # A replayed code: refused, as by the route.
    again = api.call("POST", "/verify", acme, json={"method": "mfa", "code": api.code(acme)})
    assert again.status_code == 401 and again.json()["error"]["code"] == "InvalidMFACode"
    # The failure that locks the checks is the full use case's (one crossing): its notice,
    # its audit row; then the lock refuses.
    refused = 2  # the wrong code and the replay, each counted
    while _failures(api, "acme") < policy.CODE_FAILURE_LIMIT - 1:
        api.call("POST", "/verify", acme, json={"method": "mfa", "code": "000000"})
        refused += 1
    thread_calls.clear()
    locking = api.call("POST", "/verify", acme, json={"method": "mfa", "code": "000000"})
    assert locking.status_code == 401 and thread_calls == ["_verify_now"]
    assert _failures(api, "acme") == policy.CODE_FAILURE_LIMIT
    locked = api.call("POST", "/verify", acme, json={"method": "mfa", "code": api.code(acme)})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "TooManyAttempts"
    m = scrape(api.client)
    statuses = {"401": refused + 1, "429": 1}
    for status, count in statuses.items():
        assert value(m, "twofold_http_requests_total", route="/api/v1/verify", method="POST",
                     status=status) == count


def test_a_body_the_first_answer_declines_reaches_the_route_intact(api: Api) -> None:
    acme = api.signup("acme")
    api.enable_mfa(acme)
    api.clock.advance(60)
    # The route reads the body the first answer read: it names the bad field, where an
    # empty body would be "field required" for the body as a whole.
    bad = api.call("POST", "/verify", acme, json={"method": "sideways"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "ValidationError"
    assert set(bad.json()["error"]["fields"]) == {"method"}, bad.text
    text = api.call("POST", "/verify", acme, content=b"not json",
                    headers={"Content-Type": "application/json"})
    assert text.status_code == 400 and text.json()["error"]["code"] == "ValidationError"
    assert api.call("POST", "/verify", acme, json={"method": "mfa", "code": api.code(acme)}
                    ).status_code == 200


def test_a_password_step_up_is_hashed_off_the_event_loop(
    api: Api, thread_calls: list[str]
) -> None:
    acme = api.signup("acme")  # no second factor: the password verifies
    thread_calls.clear()
    r = api.call("POST", "/verify", acme, json={"method": "password", "password": acme.password})
    assert r.status_code == 200, r.text
    assert thread_calls == ["_verify_now"]  # argon2 never runs on the event loop
