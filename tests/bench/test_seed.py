"""The bench's seed and the schema agree: seeded rows are what the app itself reads.

A column added without a default, or a type whose encoding changed, makes this fail instead
of silently skewing the bench (both databases)."""

from __future__ import annotations

from typing import Any

from bench.seed import login_of, secret_of, seed, token_of

from tests.support import Api, FakeClock, oathtool
from twofold.domain.passwords import HashParams


def test_seeded_principals_sign_in_verify_and_show_their_device(
    api: Api, app: Any, clock: FakeClock
) -> None:
    rt = app.state.runtime
    seed(rt.settings.database_url, 3, rt.keys, HashParams(memory_kib=1024, time_cost=1,
                                                          parallelism=1))
    clock.align(5)
    for i in (1, 2, 3):
        auth = {"Authorization": f"Bearer {token_of(i)}"}
        me = api.call("GET", "/me", headers=auth)
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["login"] == login_of(i)
        assert body["kind"] == ("primary" if i == 1 else "user")
        assert body["mfa"]["enabled"] is True and body["mfa"]["serial"]
        code = oathtool(secret_of(i), clock.epoch)
        verified = api.call("POST", "/verify", headers=auth, json={"method": "mfa", "code": code})
        assert verified.status_code == 200, verified.text
    # The password the bench's logins use works against the seeded hash.
    from bench.seed import PASSWORD

    login = api.call("POST", "/login", json={"login": login_of(2), "password": PASSWORD})
    assert login.status_code == 200 and login.json()["state"] == "mfa_required"
