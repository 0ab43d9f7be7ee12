"""The rules: lockout back-off, freshness, session life, step windows, restricted paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twofold.domain import policy, totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("failures", "lock"),
    [
        (0, None),
        (4, None),
        (5, 1 * MIN),
        (6, 2 * MIN),
        (7, 4 * MIN),
        (8, 8 * MIN),
        (9, 16 * MIN),
        (10, 32 * MIN),
        (11, 60 * MIN),  # 64 minutes, capped at the hour
        (12, 60 * MIN),
        (1000, 60 * MIN),
    ],
)
def test_code_lockout_backs_off_doubling_capped_at_an_hour(
    failures: int, lock: timedelta | None
) -> None:
    assert policy.lockout_for(failures, policy.CODE_FAILURE_LIMIT) == lock


def test_password_lockout_has_its_own_limit_of_ten() -> None:
    assert policy.PASSWORD_FAILURE_LIMIT == 10
    assert policy.lockout_for(9, policy.PASSWORD_FAILURE_LIMIT) is None
    assert policy.lockout_for(10, policy.PASSWORD_FAILURE_LIMIT) == MIN
    assert policy.lockout_for(11, policy.PASSWORD_FAILURE_LIMIT) == 2 * MIN
    assert policy.lockout_for(17, policy.PASSWORD_FAILURE_LIMIT) == 60 * MIN


def test_retry_after_rounds_up_and_is_at_least_one() -> None:
    assert policy.retry_after_seconds(NOW + timedelta(seconds=59.2), NOW) == 60
    assert policy.retry_after_seconds(NOW + MIN, NOW) == 60
    assert policy.retry_after_seconds(NOW, NOW) == 1
    assert policy.retry_after_seconds(NOW - MIN, NOW) == 1


@pytest.mark.parametrize(
    ("verified_at", "fresh"),
    [
        (None, False),
        (NOW, True),
        (NOW - timedelta(minutes=5), True),  # the edge of the window still counts
        (NOW - timedelta(minutes=5, seconds=1), False),
        (NOW - timedelta(hours=1), False),
        (NOW + timedelta(seconds=1), False),  # a verification from the future is not trusted
    ],
)
def test_is_fresh(verified_at: datetime | None, fresh: bool) -> None:
    assert policy.is_fresh(verified_at, NOW, timedelta(minutes=5)) is fresh


def test_session_alive_idle_and_absolute() -> None:
    idle = timedelta(hours=1)
    expires = NOW + timedelta(hours=12)
    assert policy.session_alive(last_seen_at=NOW, expires_at=expires, now=NOW, idle=idle)
    almost = NOW + idle - timedelta(seconds=1)
    assert policy.session_alive(last_seen_at=NOW, expires_at=expires, now=almost, idle=idle)
    assert not policy.session_alive(
        last_seen_at=NOW, expires_at=expires, now=NOW + idle, idle=idle
    )
    # Active all along, yet past the absolute end.
    assert not policy.session_alive(
        last_seen_at=expires, expires_at=expires, now=expires, idle=idle
    )


@pytest.mark.parametrize(("step", "ok"), [(98, False), (99, True), (100, True), (101, True),
                                          (102, False)])
def test_a_code_is_accepted_one_step_either_way(step: int, ok: bool) -> None:
    # The rule as the code check applies it: match_step over policy.CODE_WINDOW.
    code = totp.code_at_step(SECRET, step)
    assert (totp.match_step(SECRET, code, 100, policy.CODE_WINDOW) == step) is ok


@pytest.mark.parametrize(
    ("s1", "s2", "ok"),
    [
        (99, 100, True),
        (100, 101, True),
        (98, 99, True),
        (97, 98, False),  # the later code is two steps old
        (101, 102, False),  # two steps ahead
        (99, 101, False),  # not consecutive
        (100, 100, False),
        (100, 99, False),  # wrong order
        (None, 100, False),
        (99, None, False),
    ],
)
def test_bind_steps(s1: int | None, s2: int | None, ok: bool) -> None:
    assert policy.bind_steps_ok(s1, s2, 100) is ok


@pytest.mark.parametrize(
    "path",
    [
        "/me",
        "/me/mfa-device",
        "/me/mfa-device/bind",
        "/me/mfa-device/resync",
        "/verify",
        "/verify/email",
        "/logout",
    ],
)
def test_restricted_session_reaches_setup_paths(path: str) -> None:
    assert policy.restricted_may_reach(path)


@pytest.mark.parametrize(
    "path",
    [
        "/users",
        "/users/{name}",
        "/users/{name}/mfa-device",
        "/audit-events",
        "/me/password",
        "/me/sessions",
        "/me/recovery-codes",
        "/account/security",
        "/accounts",
        "/mex",
        "/me/mfa-devicex",
        "/logout/x",
        "/verifyx",
        "me",
        "",
    ],
)
def test_restricted_session_reaches_nothing_else(path: str) -> None:
    assert not policy.restricted_may_reach(path)


@pytest.mark.parametrize("name", ["acme", "abc", "a-b", "a1", "x" * 32, "a0-9"])
def test_valid_names(name: str) -> None:
    assert policy.valid_name(name) is (len(name) >= 3)


@pytest.mark.parametrize(
    "name", ["ab", "x" * 33, "1abc", "-abc", "Acme", "acme_", "ac me", "acmé", "acme\n", ""]
)
def test_invalid_names(name: str) -> None:
    assert not policy.valid_name(name)
