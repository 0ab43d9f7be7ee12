"""`twofold account security show|set` and `twofold sessions list|revoke`, on both databases."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.support import Api
from twofold.cli.main import app
from twofold.config import Settings


@pytest.fixture
def run(settings: Settings):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {
        "TWOFOLD_DATABASE_URL": settings.database_url,
        "TWOFOLD_KEY_FILE": settings.key_file,
        "TWOFOLD_ENV": "test",
    }

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, result.output

    return invoke


def test_security_show_and_set(api: Api, run) -> None:  # type: ignore[no-untyped-def]
    owner = api.signup()
    code, out = run("account", "security", "show", "acme")
    assert code == 0, out
    assert "session_hours: 12" in out and "login_networks: (any)" in out
    code, out = run(
        "account", "security", "set", "acme",
        "--session-hours", "2",
        "--mfa-for-login", "all_users",
        "--no-allow-users-to-manage-mfa",
        "--login-network", "10.0.0.0/8",
        "--login-network", "2001:db8::/32",
    )
    assert code == 0, out
    assert "allow_users_to_manage_mfa: no" in out
    prefs = api.call("GET", "/account/security", owner).json()
    assert prefs["session_hours"] == 2 and prefs["mfa_for_login"] == "all_users"
    assert prefs["login_networks"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert prefs["allow_users_to_manage_mfa"] is False
    events = api.call("GET", "/audit-events", owner).json()["events"]
    changes = [e for e in events if e["action"] == "account.security_changed"]
    assert len(changes) == 4
    assert all(e["actor"] is None and e["detail"]["via"] == "cli" for e in changes)
    # The same rule as the API.
    code, out = run("account", "security", "set", "acme", "--session-hours", "25")
    assert code == 1 and "ValidationError" in out and "session_hours" in out
    code, out = run("account", "security", "set", "acme", "--login-network", "10.0.0.0/33")
    assert code == 1 and "login_networks.0" in out
    code, out = run("account", "security", "set", "acme", "--any-network")
    assert code == 0 and "login_networks: (any)" in out
    code, out = run("account", "security", "show", "nobody")
    assert code == 1 and "NotFound" in out


def test_sessions_list_and_revoke(api: Api, run) -> None:  # type: ignore[no-untyped-def]
    owner = api.signup()
    other = api.call(  # a second session of the same login
        "POST", "/login", json={"login": "acme", "password": owner.password}
    ).json()["token"]
    sessions = api.call("GET", "/me/sessions", owner).json()["sessions"]
    code, out = run("sessions", "list", "acme")
    assert code == 0, out
    for s in sessions:
        assert s["id"] in out
    victim = next(s for s in sessions if not s["current"])
    code, out = run("sessions", "revoke", "acme", victim["id"])
    assert code == 0 and "ended" in out
    assert api.call("GET", "/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert api.call("GET", "/me", owner).status_code == 200
    code, out = run("sessions", "revoke", "acme", "--all")
    assert code == 0 and "1 sessions ended" in out
    assert api.call("GET", "/me", owner).status_code == 401
    code, out = run("sessions", "list", "acme")
    assert "no live sessions" in out
    code, out = run("sessions", "revoke", "acme")
    assert code != 0
    code, out = run("sessions", "list", "ghost@acme")
    assert code == 1 and "NotFound" in out


def test_cli_requiring_mfa_of_all_users_restricts_open_sessions(  # type: ignore[no-untyped-def]
    api: Api, run
) -> None:
    owner = api.signup()
    alice = api.add_user(owner)
    api.login(alice)
    code, out = run("sessions", "list", "alice@acme")
    assert code == 0 and "setup-only" not in out
    code, out = run("account", "security", "set", "acme", "--mfa-for-login", "all_users")
    assert code == 0, out
    code, out = run("sessions", "list", "alice@acme")
    assert code == 0 and "setup-only" in out
    r = api.call("GET", "/audit-events", alice)
    assert r.status_code == 403 and r.json()["error"]["code"] == "MFASetupRequired"
    events = api.call("GET", "/audit-events", owner).json()["events"]
    restricted = next(e for e in events if e["action"] == "session.restricted")
    assert restricted["actor"] is None and restricted["detail"]["count"] == 1
    # The operator ends the sub-user's sessions; audited as the CLI's.
    code, out = run("sessions", "revoke", "alice@acme", "--all")
    assert code == 0 and "1 sessions ended" in out
    assert api.call("GET", "/me", alice).status_code == 401
