"""Forward-auth's common case is answered before the framework's routing (ForwardAuthFirst):
without a worker thread on SQLite and without a write. Whatever it does not answer — a
session due its last-seen touch or expired, a bad parameter, a disabled application — the
route answers as before, and a proxy sees the same answer either way."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import select

from tests.support import Api
from tests.web.test_metrics import scrape, value
from twofold.storage.models import AuthSession

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
        calls.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return calls


def _last_seen(api: Api) -> list[Any]:
    rt = api.client.app.state.runtime  # type: ignore[attr-defined]
    with rt.sessions() as db:
        return list(db.scalars(select(AuthSession.last_seen_at).order_by(AuthSession.id)))


def _headers(r: Any) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k not in SAME_EVERY_TIME}


def test_the_common_case_takes_no_worker_thread_on_sqlite(
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
    # SQLite reads a local file and never waits in WAL mode: inline. PostgreSQL waits for
    # the network: one crossing for the check, none for the framework.
    expected = 0 if db_url.startswith("sqlite") else 3
    assert len(thread_calls) == expected, thread_calls


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
