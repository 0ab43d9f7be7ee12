"""Sign-up, names, and how bad input is answered."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support import PASSWORD, Api
from tests.web.api.conftest import error


def signup(api: Api, **body: object) -> object:
    payload = {"name": "acme", "email": "owner@acme.example", "password": PASSWORD, **body}
    return api.call("POST", "/accounts", json=payload)


def test_signup_then_login_as_the_name(api: Api) -> None:
    r = signup(api)
    assert r.status_code == 201
    assert r.json() == {"name": "acme", "email": "owner@acme.example"}
    r = api.call("POST", "/login", json={"login": "acme", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["state"] == "authenticated"
    me = api.call("GET", "/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json()["login"] == "acme"
    assert me.json()["kind"] == "primary"
    assert me.json()["account"] == "acme"
    assert me.json()["mfa"]["enabled"] is False


def test_taken_name_is_409(api: Api) -> None:
    assert signup(api).status_code == 201
    error(signup(api, email="other@else.example"), 409, "AlreadyExists")


@pytest.mark.parametrize("name", ["ab", "Acme", "1acme", "-acme", "ac_me", "a" * 33, "acmé", ""])
def test_bad_names_are_validation_errors(api: Api, name: str) -> None:
    e = error(signup(api, name=name), 400, "ValidationError")
    assert "name" in e["fields"]


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short pass", "at least 12 characters"),
        ("x" * 257, "at most 256 characters"),
        ("123456789012", "too common"),
        ("acme-company", None),
    ],
)
def test_password_policy_at_signup(api: Api, password: str, problem: str | None) -> None:
    r = signup(api, name="acme-company", password=password)
    if problem is None:  # the name itself
        problem = "equal to the login, name or email"
    e = error(r, 400, "ValidationError")
    assert e["fields"] == {"password": problem}


def test_unicode_password_counts_code_points(api: Api) -> None:
    emoji = "🔐🗝🦊🌍🎲🧩🚲🌵🍋🎻⛵🔑"
    assert signup(api, password=emoji).status_code == 201
    r = api.call("POST", "/login", json={"login": "acme", "password": emoji})
    assert r.json()["state"] == "authenticated"


@pytest.mark.parametrize("email", ["owner@acme.test", "owner@localhost", "o@example.com",
                                   "o@mail.invalid"])
def test_any_syntactically_valid_email_is_accepted(api: Api, email: str) -> None:
    r = signup(api, email=email)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("email", ["not-an-email", "a@b@c", "", "owner@"])
def test_bad_email_is_a_validation_error(api: Api, email: str) -> None:
    e = error(signup(api, email=email), 400, "ValidationError")
    assert "email" in e["fields"]


def test_missing_wrongly_typed_and_unknown_fields(api: Api) -> None:
    e = error(api.call("POST", "/accounts", json={"name": "acme"}), 400, "ValidationError")
    assert set(e["fields"]) == {"email", "password"}
    e = error(signup(api, name=5), 400, "ValidationError")
    assert "name" in e["fields"]
    e = error(signup(api, admin=True), 400, "ValidationError")
    assert "admin" in e["fields"]
    e = error(api.call("POST", "/accounts", json=["acme"]), 400, "ValidationError")
    assert e["fields"]


@pytest.mark.parametrize("body", [b"{", b'{"name": "acme",}', b"\xff\xfe", b"null"])
def test_malformed_json_is_400(api: Api, body: bytes) -> None:
    r = api.call("POST", "/accounts", content=body, headers={"Content-Type": "application/json"})
    error(r, 400, "ValidationError")


def test_signup_closed_is_403(api_with: Callable[..., Api]) -> None:
    closed = api_with(signup_open=False)
    error(signup(closed), 403, "Forbidden")


def test_unknown_path_is_404_in_the_error_shape(api: Api) -> None:
    error(api.call("GET", "/nothing-here"), 404, "NotFound")


def test_password_is_normalised_when_set_and_when_checked(api: Api) -> None:
    """NFKC at both ends: typed decomposed at sign-up, composed (or fullwidth) at login."""
    decomposed = "cafe\u0301 cre\u0300me bru\u0302le\u0301e 42"
    assert signup(api, password=decomposed).status_code == 201
    composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
    for typed in (composed + " 42", composed + " ４２"):
        r = api.call("POST", "/login", json={"login": "acme", "password": typed})
        assert r.status_code == 200 and r.json()["state"] == "authenticated", r.text
