"""The `twofold` command on the same database and key file as the app."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import Inbox
from tests.soft_authenticator import SoftAuthenticator
from tests.support import PASSWORD, Api, bearer
from twofold.cli.main import app as cli
from twofold.config import Settings
from twofold.storage.db import make_engine
from twofold.storage.models import MfaDevice


def runner_env(settings: Settings, **more: str) -> dict[str, str]:
    return {
        "TWOFOLD_DATABASE_URL": settings.database_url,
        "TWOFOLD_KEY_FILE": settings.key_file,
        "TWOFOLD_ENV": "test",
        "TWOFOLD_ARGON2_MEMORY_KIB": "1024",
        "TWOFOLD_ARGON2_TIME_COST": "1",
        "TWOFOLD_SMTP_URL": settings.smtp_url or "",
        **more,
    }


@pytest.fixture
def run(settings: Settings) -> Callable[..., object]:
    def invoke(*args: str, input: str | None = None, **env: str) -> object:
        return CliRunner().invoke(cli, list(args), input=input, env=runner_env(settings, **env))

    return invoke


def test_account_create_with_password_stdin(
    run: Callable[..., object], api: Api, inbox: Inbox
) -> None:
    r = run("account", "create", "acme", "--email", "o@acme.test", "--password-stdin",
            input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "created account acme" in r.output  # type: ignore[attr-defined]
    login = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert login.json()["state"] == "authenticated"
    # The address is confirmed by the holder of the mailbox, not by the operator's command.
    me = api.call("GET", "/me", headers=bearer(login.json()["token"])).json()
    assert me["email_verified"] is False
    api.confirm_email(inbox.bodies_to("o@acme.test"))
    again = run("account", "create", "acme", "--email", "o@acme.test", "--password-stdin",
                input=PASSWORD + "\n")
    assert again.exit_code == 1  # type: ignore[attr-defined]
    assert "AlreadyExists" in again.output  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "password", "expect"),
    [
        (["bad_name", "--email", "o@x.example"], PASSWORD, "ValidationError"),
        (["acme", "--email", "o@x.example"], "short", "ValidationError"),
        (["acme", "--email", "not-an-email"], PASSWORD, "ValidationError"),
    ],
)
def test_account_create_refusals(run: Callable[..., object], args: list[str], password: str,
                                 expect: str) -> None:
    r = run("account", "create", *args, "--password-stdin", input=password + "\n")
    assert r.exit_code != 0  # type: ignore[attr-defined]
    assert expect in r.output  # type: ignore[attr-defined]


def test_mfa_status_and_reset(run: Callable[..., object], api: Api) -> None:
    owner = api.signup()
    r = run("mfa", "status", "acme")
    assert r.exit_code == 0 and "acme: MFA not enabled" in r.output  # type: ignore[attr-defined]
    api.enable_mfa(owner)
    r = run("mfa", "status", "acme")
    out = r.output  # type: ignore[attr-defined]
    assert "acme: MFA enabled" in out and owner.serial in out
    assert "recovery codes left: 10" in out
    assert owner.secret not in out
    r = run("mfa", "reset", "acme")
    assert r.exit_code == 0 and "device removed" in r.output  # type: ignore[attr-defined]
    assert api.call("GET", "/me", owner).status_code == 401  # sessions ended
    login = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert login.json()["state"] == "authenticated"
    owner.token = login.json()["token"]
    events = api.call("GET", "/audit-events", owner).json()["events"]
    assert any(e["action"] == "mfa.operator_reset" for e in events)
    r = run("mfa", "status", "nobody")
    assert r.exit_code == 1 and "NotFound" in r.output  # type: ignore[attr-defined]


def test_mfa_reset_removes_security_keys(run: Callable[..., object], api: Api) -> None:
    owner = api.signup()
    authn = SoftAuthenticator()
    options = api.call("POST", "/me/security-keys/options", owner).json()["public_key"]
    r = api.call(
        "POST", "/me/security-keys/verify", owner,
        json={"name": "key", "credential": authn.create(options)},
    )
    assert r.status_code == 201, r.text
    out = run("mfa", "status", "acme").output  # type: ignore[attr-defined]
    assert "acme: MFA enabled" in out and "security keys: 1" in out
    r = run("mfa", "reset", "acme")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    login = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert login.json()["state"] == "authenticated"  # no key asked for


def test_keys_rotate_reseals_and_codes_still_verify(
    run: Callable[..., object], api: Api, api_with: Callable[..., Api], settings: Settings
) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        before = conn.execute(select(MfaDevice.sealed_secret)).scalar_one()
    r = run("keys", "rotate")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "re-sealed 1 secrets" in r.output  # type: ignore[attr-defined]
    with engine.connect() as conn:
        after = conn.execute(select(MfaDevice.sealed_secret)).scalar_one()
    engine.dispose()
    assert after.split(":")[0] != before.split(":")[0]
    assert owner.secret not in after
    restarted = api_with()  # a server started after the rotation reads the new key file
    assert restarted.verify_mfa(owner).status_code == 200
    api.clock.advance(30)
    r2 = restarted.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    ch = r2.json()["challenge"]
    ok = restarted.call("POST", "/login/mfa", json={"challenge": ch, "code": api.code(owner)})
    assert ok.status_code == 200


def test_a_server_running_during_rotation_reads_the_new_key(
    run: Callable[..., object], api: Api
) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    r = run("keys", "rotate")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    # The same app, started before the rotation, opens secrets sealed under the new key.
    assert api.verify_mfa(owner).status_code == 200
    api.clock.advance(30)
    assert api.call("POST", "/verify", owner,
                    json={"method": "mfa", "code": "000000"}).status_code == 401


def test_db_upgrade_on_a_fresh_database(tmp_path: Path) -> None:
    env = {"TWOFOLD_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
           "TWOFOLD_KEY_FILE": str(tmp_path / "key")}
    r = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert r.exit_code == 0 and "database is up to date" in r.output
    from twofold.storage.migrate import is_current

    engine = make_engine(env["TWOFOLD_DATABASE_URL"], pool_size=1)
    assert is_current(engine)
    engine.dispose()


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"TWOFOLD_KEY_FILE": "{dir}"}, "cannot read the key file"),
        ({"TWOFOLD_DATABASE_URL": "mysql://u@h/db"}, "must be sqlite:// or postgresql://"),
        ({"TWOFOLD_DATABASE_URL": "::not a url::"}, "not a database URL"),
    ],
)
def test_serve_refuses_to_start_with_a_one_line_reason(tmp_path: Path, env: dict[str, str],
                                                       reason: str) -> None:
    keydir = tmp_path / "keydir"
    keydir.mkdir()
    full = {
        "PATH": "/usr/bin:/bin",
        "TWOFOLD_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "TWOFOLD_KEY_FILE": str(tmp_path / "key"),
        **{k: v.format(dir=keydir) for k, v in env.items()},
    }
    p = subprocess.run([sys.executable, "-m", "twofold", "serve", "--port", "1"], env=full,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("twofold: ") and reason in lines[0]
    assert "Traceback" not in p.stderr + p.stdout


def test_user_disable_enable_and_set_password(run: Callable[..., object], api: Api) -> None:
    from tests.support import USER_PASSWORD, Principal

    owner = api.signup("acme")
    alice = api.add_user(owner, "alice")
    api.login(alice)
    r = run("user", "disable", "alice@acme")
    assert r.exit_code == 0 and "disabled" in r.output, r.output  # type: ignore[attr-defined]
    assert api.call("GET", "/me", alice).status_code == 401
    r2 = api.call("POST", "/login", json={"login": "alice@acme", "password": USER_PASSWORD})
    assert r2.status_code == 403 and r2.json()["error"]["code"] == "AccountDisabled"
    assert run("user", "enable", "alice@acme").exit_code == 0  # type: ignore[attr-defined]
    new = "set by the operator 77"
    r = run("user", "set-password", "alice@acme", "--must-change", "--password-stdin",
            input=new + "\n")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert api.login(Principal("alice@acme", new))["state"] == "password_change_required"
    bad = run("user", "set-password", "alice@acme", "--password-stdin", input="short\n")
    assert bad.exit_code == 1 and "ValidationError" in bad.output  # type: ignore[attr-defined]
    missing = run("user", "disable", "nobody@acme")
    assert missing.exit_code == 1 and "NotFound" in missing.output  # type: ignore[attr-defined]
    assert new not in str(api.call("GET", "/audit-events?limit=50", owner).json())


def test_account_disable_and_enable(run: Callable[..., object], api: Api) -> None:
    from tests.support import USER_PASSWORD, Principal

    owner = api.signup("acme")
    alice = api.add_user(owner, "alice")
    api.login(alice)
    other = api.signup("other")
    r = run("account", "disable", "acme")
    assert r.exit_code == 0 and "2 principals" in r.output, r.output  # type: ignore[attr-defined]
    for who in (owner, alice):
        assert api.call("GET", "/me", who).status_code == 401
    for login, pw in (("acme", PASSWORD), ("alice@acme", USER_PASSWORD)):
        r2 = api.call("POST", "/login", json={"login": login, "password": pw})
        assert r2.status_code == 403 and r2.json()["error"]["code"] == "AccountDisabled"
    r2 = api.call("POST", "/login", json={"login": "acme", "password": "wrong password 123"})
    assert r2.status_code == 401
    assert api.call("GET", "/me", other).status_code == 200
    assert run("account", "enable", "acme").exit_code == 0  # type: ignore[attr-defined]
    assert api.login(Principal("acme", PASSWORD))["state"] == "authenticated"
    assert run("account", "disable", "nope").exit_code == 1  # type: ignore[attr-defined]
