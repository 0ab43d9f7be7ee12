"""Applications over the API: owned by one account, managed by its primary, secrets shown once
and stored hashed, redirect URIs checked, every change audited and freshly verified."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tests.support import Api, Principal
from twofold.config import Settings

APP = {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/callback"]}


def _create(api: Api, who: Principal, **body: object) -> dict[str, object]:
    r = api.call("POST", "/applications", who, json={**APP, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_register_list_show_update_rotate_delete(api: Api, settings: Settings) -> None:
    acme = api.signup("acme")
    app = _create(api, acme, post_logout_redirect_uris=["https://wiki.example.com/bye"])
    assert app["type"] == "confidential" and isinstance(app["client_secret"], str)
    client_id = str(app["client_id"])
    assert "acme" not in client_id and "wiki" not in client_id.lower()  # opaque
    listed = api.call("GET", "/applications", acme).json()["applications"]
    assert [a["client_id"] for a in listed] == [client_id]
    assert "client_secret" not in listed[0]
    shown = api.call("GET", f"/applications/{client_id}", acme).json()
    assert shown["redirect_uris"] == APP["redirect_uris"] and "client_secret" not in shown

    r = api.call(
        "PATCH", f"/applications/{client_id}", acme,
        json={"redirect_uris": ["https://wiki.example.com/cb2"], "require_mfa": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["redirect_uris"] == ["https://wiki.example.com/cb2"]
    assert r.json()["require_mfa"] is True

    rotated = api.call("POST", f"/applications/{client_id}/secret", acme).json()
    assert rotated["client_secret"] not in (None, app["client_secret"])

    # The secret is stored as its digest, never in clear.
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_hash FROM applications")).scalar_one()
        actions = [row[0] for row in conn.execute(
            text("SELECT action FROM audit_events WHERE action LIKE 'application.%' ORDER BY id")
        )]
    engine.dispose()
    assert stored not in (app["client_secret"], rotated["client_secret"]) and len(stored) == 64
    assert actions == [
        "application.created", "application.updated", "application.secret_rotated"
    ]

    assert api.call("DELETE", f"/applications/{client_id}", acme).status_code == 204
    assert api.call("GET", f"/applications/{client_id}", acme).status_code == 404


def test_public_application_has_no_secret(api: Api) -> None:
    acme = api.signup("acme")
    app = _create(api, acme, type="public", redirect_uris=["http://127.0.0.1:9999/cb"])
    assert app["client_secret"] is None
    r = api.call("POST", f"/applications/{app['client_id']}/secret", acme)
    assert r.status_code == 400 and r.json()["error"]["code"] == "ValidationError"


def test_redirect_uris_must_be_https_except_loopback(api: Api) -> None:
    acme = api.signup("acme")
    for bad in (
        "http://wiki.example.com/cb",
        "https://wiki.example.com/cb#frag",
        "javascript:alert(1)",
        "/relative",
        "https://user:pw@wiki.example.com/cb",
    ):
        r = api.call("POST", "/applications", acme, json={**APP, "redirect_uris": [bad]})
        assert r.status_code == 400, bad
        assert r.json()["error"]["code"] == "ValidationError"
    for good in ("http://localhost:3000/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb"):
        _create(api, acme, redirect_uris=[good])


def test_http_redirects_allowed_by_setting(api_with) -> None:  # type: ignore[no-untyped-def]
    api = api_with(allow_http_redirects=True)
    acme = api.signup("acme")
    _create(api, acme, redirect_uris=["http://wiki.internal/cb"])


def test_only_the_primary_manages_and_only_its_own(api: Api) -> None:
    acme = api.signup("acme")
    app = _create(api, acme)
    alice = api.add_user(acme, "alice")
    api.login(alice)
    assert api.call("GET", "/applications", alice).status_code == 403
    assert api.call("POST", "/applications", alice, json=APP).status_code == 403
    other = api.signup("other")
    assert api.call("GET", f"/applications/{app['client_id']}", other).status_code == 404
    assert api.call("DELETE", f"/applications/{app['client_id']}", other).status_code == 404
    assert api.call("GET", "/applications", other).json() == {"applications": []}


def test_changes_need_a_fresh_verification(api: Api) -> None:
    acme = api.signup("acme")
    app = _create(api, acme)
    api.clock.advance(6 * 60)
    for method, path in (
        ("POST", "/applications"),
        ("PATCH", f"/applications/{app['client_id']}"),
        ("POST", f"/applications/{app['client_id']}/secret"),
        ("DELETE", f"/applications/{app['client_id']}"),
    ):
        r = api.call(method, path, acme, json=APP if method == "POST" else {})
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "VerificationRequired"
    assert api.call("GET", "/applications", acme).status_code == 200
