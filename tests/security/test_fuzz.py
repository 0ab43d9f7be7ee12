"""Item 17: schemathesis against the OpenAPI document (no 500, responses within the schema)
and hypothesis on the domain functions (code parsing, URI building, the step window, binding)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support import Api, Principal
from twofold.domain import policy, totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@given(st.one_of(st.text(max_size=12), st.integers(), st.none(), st.lists(st.text(max_size=3))))
def test_parse_code_accepts_exactly_six_ascii_digits(raw: Any) -> None:
    parsed = totp.parse_code(raw)
    ok = isinstance(raw, str) and len(raw) == 6 and all(c in "0123456789" for c in raw)
    assert (parsed == raw) if ok else parsed is None


@given(st.integers(min_value=1, max_value=2**40), st.integers(min_value=0, max_value=3))
def test_match_step_finds_only_steps_inside_the_window(step: int, offset: int) -> None:
    code = totp.code_at_step(SECRET, step + offset)
    found = totp.match_step(SECRET, code, step, policy.CODE_WINDOW)
    if offset <= policy.CODE_WINDOW:
        assert found is not None and abs(found - step) <= policy.CODE_WINDOW
        assert totp.code_at_step(SECRET, found) == code
    else:
        # Outside the window the step itself is never found; only a one-in-a-million
        # collision with a step inside the window may match.
        assert found is None or (found != step + offset and abs(found - step) <= 1)


@given(st.integers(-1, 1), st.integers(0, 2**35))
def test_bind_takes_consecutive_steps_near_now_and_nothing_else(d2: int, now: int) -> None:
    s2 = now + d2
    assert policy.bind_steps_ok(s2 - 1, s2, now)
    # Not consecutive, in the wrong order, or the later step too far from now: refused.
    assert not policy.bind_steps_ok(s2 - 2, s2, now)
    assert not policy.bind_steps_ok(s2, s2, now)
    assert not policy.bind_steps_ok(s2 + 1, s2, now)
    assert not policy.bind_steps_ok(now + 1, now + 2, now)
    assert not policy.bind_steps_ok(now - 3, now - 2, now)
    assert not policy.bind_steps_ok(None, s2, now) and not policy.bind_steps_ok(s2 - 1, None, now)


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=80))
def test_otpauth_uri_round_trips_any_issuer_and_login(issuer: str, login: str) -> None:
    uri = totp.otpauth_uri(SECRET, issuer, login)
    parts = urlparse(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert "\n" not in uri and " " not in uri and "#" not in uri.split("?", 1)[0]
    label = unquote(parts.path.lstrip("/"))
    assert label == f"{issuer}:{login}"
    query = parse_qs(parts.query, keep_blank_values=True)
    assert query["secret"] == [SECRET] and query["issuer"] == [issuer]
    assert query["digits"] == ["6"] and query["period"] == ["30"]
    assert query["algorithm"] == ["SHA1"]


@given(st.text(max_size=60))
def test_restricted_paths_are_exactly_the_listed_ones(path: str) -> None:
    allowed = policy.restricted_may_reach(path)
    listed = path in ("/me", "/logout", "/verify", "/me/mfa-device") or path.startswith(
        ("/me/mfa-device/", "/verify/"))
    assert allowed == listed


@pytest.mark.slow
def test_schemathesis_finds_no_500_and_no_answer_outside_the_schema(
    api: Api, owner: Principal
) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app)
    headers = owner.headers
    failures: list[str] = []

    @given(data=st.data())
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True)
    def run(data: Any) -> None:
        for operation in operations:
            case = data.draw(operation.as_strategy())
            response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=[not_a_server_error,
                                                         response_schema_conformance])
            except BaseException as exc:  # noqa: BLE001 - schemathesis raises failure groups
                failures.append(f"{case.method} {case.path}: {exc}"[:500])

    operations = [op.ok() for op in schema.get_all_operations()
                  if op.ok().path not in ("/api/v1/logout", "/api/v1/me/sessions")
                  or op.ok().method.upper() == "GET"]
    run()
    assert not failures, "\n".join(failures)
