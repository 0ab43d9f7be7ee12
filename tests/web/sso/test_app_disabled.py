"""A disabled application (kept, not deleted) refuses the sign-in with a page that says so,
its client at the token endpoint (`invalid_client`), its access tokens at userinfo, and
forward-auth with 403 (signing in would not help); enabled again, all of it works again.
The console and the CLI turn it off and on."""

from __future__ import annotations

import re
import secrets

from typer.testing import CliRunner

from tests.cli.test_cli import runner_env
from tests.support import PASSWORD, Api, bearer
from tests.web.api.prefs import verify
from tests.web.console.conftest import Console
from tests.web.sso.inproc import authorize, code_of, exchange, register, sign_in_flow
from twofold.cli.main import app as cli
from twofold.config import Settings
from twofold.web.console.security import SESSION


def test_disabled_application_is_refused_everywhere(api: Api, console: Console) -> None:
    owner = api.signup()
    client = register(api, owner)
    alice = api.add_user(owner)
    api.login(alice)
    console.client.cookies.set(SESSION, alice.token or "")
    grant = sign_in_flow(console, client)
    verifier = secrets.token_urlsafe(48)
    pending_code = code_of(authorize(console, client[0], verifier))

    verify(api, owner)
    r = api.call("PATCH", f"/applications/{client[0]}", owner, json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True, r.text

    page = authorize(console, client[0], verifier)
    assert page.status_code == 403 and "location" not in page.headers
    assert "disabled" in page.text
    r = exchange(console, client, pending_code, verifier)
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client"
    assert "disabled" in r.json()["error_description"]
    assert console.client.get("/oauth/userinfo",
                              headers=bearer(grant["access_token"])).status_code == 401
    for path in ("/api/v1/authz/auth-request", "/api/v1/authz/forward-auth"):
        r = console.client.get(path, params={"app": client[0]}, headers=bearer(alice.token or ""),
                               follow_redirects=False)
        assert r.status_code == 403 and "disabled" in r.json()["error"]["message"], r.text

    r = api.call("PATCH", f"/applications/{client[0]}", owner, json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert console.client.get("/oauth/userinfo",
                              headers=bearer(grant["access_token"])).status_code == 200
    assert sign_in_flow(console, client)["id_token"]
    r = console.client.get("/api/v1/authz/auth-request", params={"app": client[0]},
                           headers=bearer(alice.token or ""))
    assert r.status_code == 200 and r.headers["remote-user"] == "alice@acme"


def test_console_and_cli_turn_it_off_and_on(api: Api, console: Console,
                                            settings: Settings) -> None:
    owner = api.signup()
    client_id, _ = register(api, owner)
    console.login("acme", PASSWORD)
    r = console.post(f"/applications/{client_id}/disabled", {"disabled": "true"},
                     page=f"/applications/{client_id}")
    assert r.status_code == 303 and "app-disabled" in r.headers["location"]
    assert api.call("GET", f"/applications/{client_id}", owner).json()["disabled"] is True
    assert 'id="application-disabled"' in console.get(f"/applications/{client_id}").text
    assert re.search(r"<td>Disabled</td>", console.get("/applications").text)

    def run(*args: str) -> str:
        out = CliRunner().invoke(cli, ["app", *args, client_id, "--account", "acme"],
                                 env=runner_env(settings))
        assert out.exit_code == 0, out.output
        return out.output

    run("enable")
    assert "disabled: no" in run("show")
    run("disable")
    assert "disabled: yes" in run("show")
