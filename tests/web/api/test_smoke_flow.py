from tests.support import Api


def test_signup_bind_and_two_step_login(api: Api) -> None:
    owner = api.signup()
    api.enable_mfa(owner)
    r = api.call("POST", "/login", json={"login": owner.login, "password": owner.password})
    assert r.json()["state"] == "mfa_required"
    r = api.call(
        "POST", "/login/mfa", json={"challenge": r.json()["challenge"], "code": api.code(owner)}
    )
    assert r.status_code == 200
    assert r.json()["state"] == "authenticated"
