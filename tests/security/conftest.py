"""Fixtures of the adversarial suite: a signed-in primary, with and without MFA."""

from __future__ import annotations

import pytest

from tests.support import Api, Principal


@pytest.fixture
def owner(api: Api) -> Principal:
    """The primary `acme`, signed in, without MFA."""
    return api.signup("acme")


@pytest.fixture
def mfa_owner(api: Api, owner: Principal) -> Principal:
    """The primary `acme` with a bound device (secret, serial and recovery codes held)."""
    api.enable_mfa(owner)
    return owner
