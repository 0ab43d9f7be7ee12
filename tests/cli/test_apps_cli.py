"""`twofold app …` on the same database as the app: create, list, show, rotate, delete."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from tests.cli.test_cli import runner_env
from tests.support import Api
from twofold.cli.main import app as cli
from twofold.config import Settings


def test_app_commands(api: Api, settings: Settings) -> None:
    acme = api.signup("acme")

    def run(*args: str) -> str:
        r = CliRunner().invoke(cli, ["app", *args], env=runner_env(settings))
        assert r.exit_code == 0, r.output
        return r.output

    out = run("create", "Wiki", "--account", "acme",
              "--redirect-uri", "https://wiki.example.com/cb")
    client_id = re.search(r"client_id: (\S+)", out).group(1)  # type: ignore[union-attr]
    secret = re.search(r"client_secret: (\S+)", out).group(1)  # type: ignore[union-attr]
    assert client_id in run("list", "--account", "acme")
    shown = run("show", client_id, "--account", "acme")
    assert "https://wiki.example.com/cb" in shown and secret not in shown
    # The API sees what the CLI made.
    got = api.call("GET", f"/applications/{client_id}", acme).json()
    assert got["name"] == "Wiki"
    new = re.search(r"client_secret: (\S+)", run("rotate-secret", client_id, "--account", "acme"))
    assert new and new.group(1) != secret
    run("delete", client_id, "--account", "acme")
    assert api.call("GET", f"/applications/{client_id}", acme).status_code == 404

    bad = CliRunner().invoke(
        cli, ["app", "create", "X", "--account", "acme", "--redirect-uri", "http://x.example/cb"],
        env=runner_env(settings),
    )
    assert bad.exit_code == 1 and "ValidationError" in bad.output
    gone = CliRunner().invoke(cli, ["app", "list", "--account", "nobody"], env=runner_env(settings))
    assert gone.exit_code == 1 and "NotFound" in gone.output


def test_keys_rotate_rotates_the_signing_key_and_keeps_the_old_one_published(
    api: Api, settings: Settings
) -> None:
    from twofold.bootstrap import build_runtime
    from twofold.services.oidc import SigningKeys
    from twofold.storage import keyfile

    api.signup("acme")
    before = api.client.get("/oauth/jwks").json()["keys"]
    assert len(before) == 1
    old_sealing_key = keyfile.load(settings.key_file).current
    r = CliRunner().invoke(cli, ["keys", "rotate"], env=runner_env(settings))
    assert r.exit_code == 0, r.output
    after = api.client.get("/oauth/jwks").json()["keys"]
    assert {k["kid"] for k in after} > {before[0]["kid"]} and len(after) == 2
    rt = build_runtime(settings)
    try:
        with rt.open_context(None, None) as ctx:
            assert SigningKeys(ctx).current()[0] != before[0]["kid"]
    finally:
        rt.close()
    # Nothing is sealed under the old sealing key any more: it can be retired.
    r = CliRunner().invoke(cli, ["keys", "retire", old_sealing_key], env=runner_env(settings))
    assert r.exit_code == 0, r.output
