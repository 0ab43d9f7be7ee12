"""Helpers of the adversarial suite: raw login steps, stored state, a dump of every value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text

from tests.support import Api, Principal


def start_login(api: Api, p: Principal) -> str:
    """The password step alone: the challenge of an MFA login."""
    r = api.call("POST", "/login", json={"login": p.login, "password": p.password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "mfa_required", body
    assert "token" not in body
    return str(body["challenge"])


def login_mfa(api: Api, challenge: str, **fields: Any) -> Any:
    return api.call("POST", "/login/mfa", json={"challenge": challenge, **fields})


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def engine_of(api: Api) -> Any:
    return api.client.app.state.runtime.engine  # type: ignore[attr-defined]


def last_step(api: Api, serial: str) -> int:
    with engine_of(api).connect() as conn:
        return int(
            conn.execute(
                text("SELECT last_step FROM mfa_devices WHERE serial = :s"), {"s": serial}
            ).scalar_one()
        )


def dump_database(engine: Any) -> str:
    """Every value of every table, as one text to search."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                parts.append(f"{table}: " + " | ".join(repr(v) for v in row))
    return "\n".join(parts)

