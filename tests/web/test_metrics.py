"""GET /metrics: Prometheus text (parsed with prometheus-client's own parser) counting what
people did, HTTP requests by route template, who may read it, and turning it off."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Api
from twofold.config import Settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_sign_ins_codes_lockouts_and_sessions_are_counted(api: Api) -> None:
    owner = api.signup()  # one session (the sign-up's login)
    r = api.call("POST", "/login", json={"login": owner.login, "password": "not the password"})
    assert r.status_code == 401
    api.call("POST", "/login", json={"login": "nobody", "password": "whatever it is"})
    api.enable_mfa(owner)
    api.clock.advance(120)
    api.login(owner)  # password step (mfa_required), then a right code
    ch = api.call("POST", "/login", json={"login": owner.login, "password": owner.password})
    challenge = ch.json()["challenge"]
    for _ in range(5):  # five wrong codes lock the code checks
        r = api.call("POST", "/login/mfa", json={"challenge": challenge, "code": "000000"})
    r = api.call("POST", "/login/mfa", json={"challenge": challenge, "code": api.code(owner)})
    assert r.status_code == 429, r.text

    m = scrape(api.client)
    assert value(m, "twofold_logins_total", result="authenticated") == 2
    assert value(m, "twofold_logins_total", result="invalid") == 2  # wrong and unknown
    assert value(m, "twofold_logins_total", result="mfa_required") == 2
    assert value(m, "twofold_logins_total", result="invalid_code") == 5
    assert value(m, "twofold_logins_total", result="locked") == 1
    assert value(m, "twofold_mfa_checks_total", method="totp", result="accepted") == 1
    assert value(m, "twofold_mfa_checks_total", method="totp", result="invalid") == 5
    assert value(m, "twofold_mfa_checks_total", method="totp", result="locked") == 1
    assert value(m, "twofold_lockouts_total", kind="mfa") == 1
    assert value(m, "twofold_sessions_created_total") == 2


def test_requests_are_labelled_by_route_template_never_by_path(api: Api) -> None:
    owner = api.signup()
    for name in ("bob", "carol", "dave"):
        assert api.call("GET", f"/users/{name}", owner).status_code == 404
    for path in ("/no/such/page-1", "/no/such/page-2", "/wp-login.php"):
        assert api.client.get(path).status_code == 404
    assert api.client.get("/api/docs/assets/swagger-ui.css").status_code == 200
    api.client.request("BREW", "/healthz")  # an unknown method: one "other" label

    text = api.client.get("/metrics").text
    for raw in ("bob", "carol", "dave", "page-1", "wp-login", "swagger-ui.css", "BREW"):
        assert raw not in text
    m = scrape(api.client)
    assert value(m, "twofold_http_requests_total", route="/api/v1/users/{name}", method="GET",
                 status="404") == 3
    assert value(m, "twofold_http_requests_total", route="unmatched", method="GET",
                 status="404") == 3
    assert value(m, "twofold_http_requests_total", route="/api/docs/assets/{path}",
                 method="GET", status="200") == 1
    assert value(m, "twofold_http_requests_total", route="/healthz", method="other",
                 status="405") == 1
    assert value(m, "twofold_http_request_duration_seconds_count",
                 route="/api/v1/users/{name}") == 3
    assert value(m, "twofold_http_request_duration_seconds_count", route="unmatched") == 3


def test_metrics_networks_restrict_who_reads(app_with: Callable[..., TestClient]) -> None:
    outside = app_with(metrics_networks=["10.0.0.0/8", "fd00::/8"])
    r = outside.get("/metrics")
    assert r.status_code == 403
    assert "NetworkNotAllowed" in r.text and "twofold_" not in r.text

    inside = app_with(client=("10.1.2.3", 50000), metrics_networks=["10.0.0.0/8"])
    assert inside.get("/metrics").status_code == 200

    # Behind a trusted proxy the client address is the forwarded one, as everywhere else.
    proxied = app_with(
        client=("192.0.2.1", 50000), trusted_proxies=["192.0.2.0/24"],
        metrics_networks=["10.0.0.0/8"],
    )
    assert proxied.get("/metrics", headers={"x-forwarded-for": "10.9.9.9"}).status_code == 200
    assert proxied.get("/metrics", headers={"x-forwarded-for": "8.8.8.8"}).status_code == 403
    # From an untrusted peer the header is ignored.
    assert outside.get("/metrics", headers={"x-forwarded-for": "10.9.9.9"}).status_code == 403


def test_metrics_can_be_turned_off(app_with: Callable[..., TestClient]) -> None:
    off = app_with(metrics=False)
    assert off.get("/metrics").status_code == 404
    assert off.get("/healthz").status_code == 200
    # The services work the same without an observer.
    r = off.post("/api/v1/login", json={"login": "acme", "password": "whatever it is"})
    assert r.status_code == 401


def test_metrics_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOFOLD_METRICS", "false")
    monkeypatch.setenv("TWOFOLD_METRICS_NETWORKS", "10.0.0.0/8, 127.0.0.1")
    s = Settings()
    assert s.metrics is False
    assert s.metrics_networks == ["10.0.0.0/8", "127.0.0.1"]
    monkeypatch.setenv("TWOFOLD_METRICS_NETWORKS", "not-a-network")
    with pytest.raises(ValueError):
        Settings()
