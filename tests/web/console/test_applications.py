"""The console's Applications page: register (secret shown once), edit redirect URIs, rotate,
delete; primary only; CSRF on every form; a stale session verifies first."""

from __future__ import annotations

import re
from typing import Any

from tests.support import PASSWORD, Api
from tests.web.console.conftest import ORIGIN, Console, csrf_of

REDIRECT = "https://wiki.example.com/callback"


def _register(console: Console, **extra: str) -> tuple[str, str | None]:
    r = console.post("/applications", {"name": "Wiki", "redirect_uris": REDIRECT, **extra},
                     page="/applications/new")
    assert r.status_code == 200, r.text
    client_id = re.search(r'id="client-id">([^<]+)<', r.text)
    secret = re.search(r'id="client-secret">([^<]+)<', r.text)
    assert client_id
    assert r.headers["cache-control"] == "no-store"
    return client_id.group(1), secret.group(1) if secret else None


def test_register_edit_rotate_delete(console: Console, owner: Any, api: Api) -> None:
    console.login("acme", PASSWORD)
    assert "No applications yet" in console.get("/applications").text
    client_id, secret = _register(console)
    assert secret
    listed = console.get("/applications").text
    assert client_id in listed and secret not in listed
    detail = console.get(f"/applications/{client_id}").text
    assert REDIRECT in detail and secret not in detail

    r = console.post(f"/applications/{client_id}",
                     {"name": "Wiki", "redirect_uris": f"{REDIRECT}\nhttps://wiki.example.com/cb2"})
    assert r.status_code == 303
    shown = api.call("GET", f"/applications/{client_id}", owner).json()
    assert shown["redirect_uris"] == [REDIRECT, "https://wiki.example.com/cb2"]

    bad = console.post(f"/applications/{client_id}",
                       {"name": "Wiki", "redirect_uris": "http://wiki.example.com/cb"})
    assert bad.status_code == 400 and "https" in bad.text
    assert api.call("GET", f"/applications/{client_id}", owner).json()["redirect_uris"] == [
        REDIRECT, "https://wiki.example.com/cb2"]

    r = console.post(f"/applications/{client_id}/secret", {}, page=f"/applications/{client_id}")
    new = re.search(r'id="client-secret">([^<]+)<', r.text)
    assert r.status_code == 200 and new and new.group(1) != secret

    r = console.post(f"/applications/{client_id}/delete", {}, page=f"/applications/{client_id}")
    assert r.status_code == 303 and r.headers["location"] == "/applications?done=app-deleted"
    assert api.call("GET", f"/applications/{client_id}", owner).status_code == 404


def test_forms_need_the_csrf_token(console: Console, owner: Any, api: Api) -> None:
    console.login("acme", PASSWORD)
    r = console.client.post("/applications", data={"csrf": "forged", "name": "X",
                                                  "redirect_uris": REDIRECT},
                            headers={"Origin": ORIGIN}, follow_redirects=False)
    assert r.status_code == 403
    assert api.call("GET", "/applications", owner).json() == {"applications": []}


def test_a_stale_session_verifies_before_the_forms(console: Console, owner: Any, api: Api) -> None:
    console.login("acme", PASSWORD)
    csrf = csrf_of(console.get("/applications/new").text)
    console.clock.advance(6 * 60)
    r = console.get("/applications/new")
    assert r.status_code == 303 and r.headers["location"].startswith("/verify?")
    r = console.post_with("/applications", {"name": "X", "redirect_uris": REDIRECT}, csrf)
    assert r.status_code == 303 and r.headers["location"].startswith("/verify?")
    assert api.call("GET", "/applications", owner).json() == {"applications": []}
    back = console.verify(r.headers["location"], {"method": "password", "password": PASSWORD})
    assert back.status_code == 303
    assert back.headers["location"].startswith("/applications/new")
    _register(console)


def test_sub_users_have_no_applications_page(console: Console, owner: Any, api: Api) -> None:
    alice = api.add_user(owner, "alice")
    console.login(alice.login, alice.password)
    assert console.get("/applications").status_code == 403
    assert console.get("/applications/new").status_code == 403
